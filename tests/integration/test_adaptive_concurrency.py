"""The adaptive concurrency limit against a server with a few slots (the simulator's slots mode).

A self-hosted server answers `slots` calls at once and queues the rest, and
sends no rate-limit headers. The engine (two caller processes, one limit for
both in the provider's limiter actor) must settle a little above the slots,
not at the 512 its callers could send, and every item must end exactly once.
`max_concurrency` in AGENTFLOW_PROVIDERS pins the limit.
"""

import json
import time

import httpx
import pytest

from engine.config import Settings
from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.fixtures import own_service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SLOTS = 4
ITEMS = 300


@pytest.fixture(scope="module")
def slotted_simulator():
    with SimulatorProcess.start(SimulatorConfig(slots=SLOTS, latency_ms=50)) as sim:
        yield sim


def settings_for(sim, store, **provider) -> Settings:
    return Settings.from_env({
        "AGENTFLOW_PROVIDERS": json.dumps({"selfhosted": {"base_url": sim.base_url, **provider}}),
        "AGENTFLOW_DEFAULT_MODEL": "selfhosted/small",
        "AGENTFLOW_STORE": str(store),
        "AGENTFLOW_REQUEST_TIMEOUT": "30",
    })


def run_batch(url: str, items: int) -> tuple[dict, list[dict], list[dict]]:
    """Submit a label batch, watch its status to the end; (final status, statuses seen, output rows)."""
    body = {"operation": "label", "categories": ["a", "b"],
            "items": [{"content": f"item {i}", "id": f"i-{i}"} for i in range(items)]}
    response = httpx.post(f"{url}/api/batches", json=body, timeout=60)
    assert response.status_code == 201, response.text
    batch_id = response.json()["batch_id"]
    seen, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/api/batches/{batch_id}", timeout=30).json()
        seen.append(status)
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.3)
    output = httpx.get(f"{url}/api/batches/{batch_id}/output", params={"format": "json"}, timeout=60).json()
    return seen[-1], seen, output["results"]


def assert_every_item_once(final: dict, rows: list[dict], items: int) -> None:
    assert final["status"] == "completed", final
    assert final["completed_items"] == items and final["failed_items"] == final["cancelled_items"] == 0
    assert [row["index"] for row in rows] == list(range(items))
    assert [row["id"] for row in rows] == [f"i-{i}" for i in range(items)]


def test_the_limit_settles_a_little_above_the_slots(ray_session, slotted_simulator, tmp_path):
    slotted_simulator.reset()
    with own_service(settings_for(slotted_simulator, tmp_path), "slots4", with_batches=True) as url:
        final, seen, rows = run_batch(url, ITEMS)
    assert_every_item_once(final, rows, ITEMS)
    concurrency = final["concurrency"]
    print(f"\n{SLOTS} slots: limit {concurrency['limit']}, at most {slotted_simulator.stats()['max_in_flight']} "
          f"in flight at the server, {final['items_per_second']} items/s")
    assert concurrency["source"] == "adaptive"
    # Every slot busy (goodput), a short queue at most (latency): not the 2 x 256 the callers could send.
    assert SLOTS <= concurrency["limit"] <= 3 * SLOTS, concurrency
    assert slotted_simulator.stats()["max_in_flight"] <= 4 * SLOTS
    running = [s["concurrency"] for s in seen if s["status"] == "processing" and s.get("concurrency")]
    assert running and all(view["source"] == "adaptive" for view in running), running  # shown while it runs


def test_max_concurrency_pins_the_limit(ray_session, slotted_simulator, tmp_path):
    slotted_simulator.reset()
    settings = settings_for(slotted_simulator, tmp_path, max_concurrency=2)
    with own_service(settings, "pinned2", with_batches=True) as url:
        final, _, rows = run_batch(url, 100)
    assert_every_item_once(final, rows, 100)
    assert final["concurrency"] == {"limit": 2, "in_flight": 0, "source": "configured"}
    assert slotted_simulator.stats()["max_in_flight"] == 2  # fewer than the server's slots: the pin holds
