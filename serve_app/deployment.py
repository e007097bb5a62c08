"""The Serve shell: one ingress deployment wrapping `create_app`.

`serve run serve_app:app` imports `app` from here; `agentflow serve` deploys
`build_app(settings)`. The replica builds its services at start-up (the app
comes from `__serve_build_asgi_app__`, called after the constructor), so
settings come from the bind arguments or the replica's environment.

`start` and `serve_forever` are `agentflow serve`: Ray (embedded, or
RAY_ADDRESS) and Serve on AGENTFLOW_HOST:AGENTFLOW_PORT. This module is the
only one of serve_app that imports Ray.
"""

from __future__ import annotations

import os
import signal
import threading

import ray
from ray import serve

from engine.batch.service import BatchService
from engine.batch.sync import SyncService
from engine.config import Settings
from engine.ray.actors import RayBatchRunner, RayCallerPool, ensure_simulator
from engine.store.batch_store import BatchStore
from serve_app.api import create_app
from serve_app.ports import ensure_port_free


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)
@serve.ingress()
class AgentFlowIngress:
    def __init__(self, settings: Settings | None = None, pool_name: str = "agentflow"):
        settings = settings or Settings.from_env()
        if settings.needs_simulator:
            settings = settings.with_simulator(ensure_simulator(settings))
        self.service = SyncService(settings, RayCallerPool(settings, pool_name))
        # Unfinished batches (after a crash) are resumed by the app's watchdog (serve_app.api).
        self.batches = BatchService(settings, BatchStore(settings.store), RayBatchRunner(settings, pool_name))

    def __serve_build_asgi_app__(self):
        return create_app(self.service, self.batches)


def build_app(settings: Settings | None = None, pool_name: str = "agentflow"):
    return AgentFlowIngress.bind(settings, pool_name)



def start(settings: Settings, ray_address: str | None = None) -> None:
    """Start (or join) Ray and deploy the app; returns once /healthz can answer."""
    address = ray_address or os.environ.get("RAY_ADDRESS") or "local"
    if not ray.is_initialized():
        if address == "local":  # joining a cluster, its Serve may already hold the port: that is fine
            ensure_port_free(settings.host, settings.port)
        ray.init(address=address, namespace="agentflow", include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(build_app(settings), name="agentflow", route_prefix="/", blocking=False)


def serve_forever(settings: Settings) -> None:
    start(settings)
    print(f"AgentFlow is serving on http://{settings.host}:{settings.port} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    print("AgentFlow is stopping", flush=True)
    if os.environ.get("RAY_ADDRESS"):
        serve.delete("agentflow")  # on a shared cluster, remove only our app
    ray.shutdown()  # embedded Ray: its processes, Serve's included, go with it


app = build_app()
