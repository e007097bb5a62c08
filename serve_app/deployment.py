"""The Serve shell: one ingress deployment wrapping `create_app`.

`serve run serve_app:app` imports `app` from here; `agentflow serve` deploys
`build_app(settings)`. The replica builds its services at start-up (the app
comes from `__serve_build_asgi_app__`, called after the constructor), so
settings come from the bind arguments or the replica's environment.
"""

from __future__ import annotations

from ray import serve

from engine.actors import RayBatchRunner, RayCallerPool, ensure_simulator
from engine.batches import BatchService
from engine.config import Settings
from engine.service import EngineService
from engine.store import BatchStore
from serve_app.api import create_app


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)
@serve.ingress()
class AgentFlowIngress:
    def __init__(self, settings: Settings | None = None, pool_name: str = "agentflow"):
        settings = settings or Settings.from_env()
        if settings.needs_simulator:
            settings = settings.with_simulator(ensure_simulator(settings))
        self.service = EngineService(settings, RayCallerPool(settings, pool_name))
        # Unfinished batches (after a crash) are resumed by the app's watchdog (serve_app.api).
        self.batches = BatchService(settings, BatchStore(settings.store), RayBatchRunner(settings, pool_name))

    def __serve_build_asgi_app__(self):
        return create_app(self.service, self.batches)


def build_app(settings: Settings | None = None, pool_name: str = "agentflow"):
    return AgentFlowIngress.bind(settings, pool_name)


app = build_app()
