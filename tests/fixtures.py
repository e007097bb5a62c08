"""Session fixtures, a pytest plugin (tests/conftest.py names it): one local Ray and one
simulator per test session, and the service deployed on Ray Serve. As a plugin they are
defined once for the whole run, so integration and browser tests share one Ray.

Ray starts with address="local" so the tests never attach to another cluster
on the machine, and only this session's Ray is stopped at the end.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest
import ray
import uvicorn
from ray import serve

from engine.config import Settings
from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.conftest import free_port


@pytest.fixture(scope="session")
def ray_session():
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="agentflow",
             log_to_driver=False, configure_logging=False)
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def simulator():
    with SimulatorProcess.start(SimulatorConfig(latency_ms=20)) as sim:
        yield sim


@pytest.fixture
def clean_simulator(simulator):
    """The session's simulator with default behaviour and zeroed counters, restored after the test."""
    simulator.configure(rpm=None, tpm=None, latency_ms=20, error_rate=0.0, hang_rate=0.0, bad_json_rate=0.0)
    simulator.reset()
    yield simulator
    simulator.configure(rpm=None, tpm=None, latency_ms=20, error_rate=0.0, hang_rate=0.0, bad_json_rate=0.0)


def service_settings(simulator, store, **env) -> Settings:
    return Settings.from_env({
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": simulator.base_url,
        "AGENTFLOW_STORE": str(store),
        "AGENTFLOW_REQUEST_TIMEOUT": "5",
        "AGENTFLOW_CALLER_CONCURRENCY": "64",
        **env,
    })


@pytest.fixture(scope="session")
def service(ray_session, simulator, tmp_path_factory):
    """The real service: Ray Serve on a loopback port, backed by the session's simulator."""
    from serve_app.deployment import start

    port = free_port()
    settings = service_settings(simulator, tmp_path_factory.mktemp("store"), AGENTFLOW_PORT=str(port))
    start(settings)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    yield url


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def kill_session(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGKILL a process started with start_new_session=True and every process of its session.

    Not only its process group: Ray gives each worker (Serve's proxy, the replicas,
    the actors) a group of its own, and a proxy left alive shares the port with the
    next one (Serve sets SO_REUSEPORT), answering for a service that is gone.
    """
    import psutil  # Ray's bundled copy, on sys.path once ray is imported

    def session() -> list[int]:
        pids = []
        for other in psutil.process_iter(["status"]):
            with contextlib.suppress(OSError, psutil.Error):
                if os.getsid(other.pid) == process.pid and other.info["status"] != psutil.STATUS_ZOMBIE:
                    pids.append(other.pid)
        return pids

    deadline = time.monotonic() + timeout
    while pids := session():
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} of the killed session did not exit")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        process.poll()  # reap the leader


class ThreadServer:
    """An ASGI app under uvicorn on a loopback port, in a thread of the test process."""

    def __init__(self, app):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_healthy(self.url)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def own_service(settings: Settings, pool_name: str, with_batches: bool = False):
    """A service of its own (own caller pool, limiter and coordinators) on a loopback port.

    For tests whose settings differ from the session service's. On exit its
    actors are removed, the limiters and the breaker included, so nothing it learned outlives it.
    """
    from engine.batch.service import BatchService
    from engine.batch.sync import SyncService
    from engine.ray.actors import NAMESPACE, RayBatchRunner, RayCallerPool
    from engine.store.batch_store import BatchStore
    from serve_app.api import create_app

    pool = RayCallerPool(settings, pool_name=pool_name)
    batches = (BatchService(settings, BatchStore(settings.store), RayBatchRunner(settings, pool_name))
               if with_batches else None)
    try:
        with ThreadServer(create_app(SyncService(settings, pool), batches)) as server:
            yield server.url
    finally:
        pool.kill()
        for provider in settings.providers.values():
            try:
                ray.kill(ray.get_actor(f"{pool_name}-limiter-{provider.name}", namespace=NAMESPACE), no_restart=True)
            except ValueError:
                pass  # that provider was never called
        try:
            ray.kill(ray.get_actor(f"{pool_name}-breaker", namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass  # no caller started
