"""`agentflow serve`: Ray (embedded, or RAY_ADDRESS) + Serve on AGENTFLOW_HOST:AGENTFLOW_PORT."""

from __future__ import annotations

import logging
import os
import signal
import threading

import ray
from ray import serve

from engine.config import Settings
from serve_app.ports import ensure_port_free

log = logging.getLogger("agentflow.serve")


def start(settings: Settings, ray_address: str | None = None) -> None:
    """Start (or join) Ray and deploy the app; returns once /healthz can answer."""
    from serve_app.deployment import build_app

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
