"""The shared limiter keeps a tight provider limit: no 429 storm, every request succeeds."""

import asyncio

import httpx
import pytest

from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.fixtures import own_service, service_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def limited_service(ray_session, tmp_path):
    """A service of its own (own pool, own limiter) against a simulator allowing 60 requests/min."""
    with SimulatorProcess.start(SimulatorConfig(rpm=60, latency_ms=50)) as sim:
        settings = service_settings(sim, tmp_path, AGENTFLOW_REQUEST_TIMEOUT="30")
        with own_service(settings, "rpm60") as url:
            yield url, sim


async def test_fifty_concurrent_requests_under_60_rpm(limited_service):
    url, sim = limited_service
    body = {"items": [{"content": "one item"}], "categories": ["a", "b"]}
    async with httpx.AsyncClient(timeout=120) as client:
        responses = await asyncio.gather(
            *(client.post(f"{url}/api/completions/label", json=body) for _ in range(50))
        )
    assert [r.status_code for r in responses] == [200] * 50
    assert all("label" in r.json()["results"][0] for r in responses)
    stats = sim.stats()
    assert stats["accepted"] == 50
    assert stats["rate_limited"] <= 0.02 * stats["requests"], stats
