"""Two batches at once share one provider limit: a small batch is not starved by a large one."""

import time

import httpx
import pytest

from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.fixtures import own_service, service_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def limited_service(ray_session, tmp_path):
    """A service of its own (own pool, limiter, coordinators) against a 1,200 requests/min provider."""
    with SimulatorProcess.start(SimulatorConfig(rpm=1200, latency_ms=100)) as sim:
        settings = service_settings(sim, tmp_path, AGENTFLOW_RPM="1200")
        with own_service(settings, "fair", with_batches=True) as url:
            yield url, sim


def submit(url, n, prefix):
    body = {"operation": "label", "categories": ["a", "b"],
            "items": [{"content": f"{prefix} {i}"} for i in range(n)]}
    return httpx.post(f"{url}/api/batches", json=body, timeout=60).json()["batch_id"]


def state(url, batch_id):
    return httpx.get(f"{url}/api/batches/{batch_id}", timeout=30).json()


def test_small_batch_behind_a_large_one_finishes_in_seconds(limited_service):
    url, sim = limited_service
    large = submit(url, 600, "large")  # 30 s of the limit on its own
    while state(url, large)["completed_items"] < 40:
        time.sleep(0.1)
    submitted = time.monotonic()
    small = submit(url, 20, "small")
    while state(url, small)["status"] != "completed":
        assert time.monotonic() - submitted < 10, state(url, small)
        time.sleep(0.1)
    large_state = state(url, large)
    assert large_state["status"] == "processing"  # the small one did not wait for the large one
    httpx.post(f"{url}/api/batches/{large}/cancel", timeout=30)
    stats = sim.stats()
    assert stats["rate_limited"] <= 0.01 * stats["requests"], stats
