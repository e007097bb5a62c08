"""Provider fallbacks on a real cluster: the primary simulator is killed mid-batch, then restarted.

Two simulators, each its own OS process on a loopback port, stand in for two
providers of the same model; the service's caller actors share one breaker
actor. The batch must end with every item exactly once, some answered by each
provider, and after the primary is back on its port new items go to it again.
"""

import json
import os
import signal
import time

import httpx
import pytest

from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.conftest import free_port
from tests.fixtures import own_service, service_settings
from tests.integration.test_batches import CATEGORIES, items, status, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIM = SimulatorConfig(latency_ms=100)
SECONDARY_RPM = 12_000  # the secondary enforces its own limit: its items must be paced by it
MODEL = "primary/gpt-4.1-mini"


@pytest.fixture
def two_providers(ray_session, tmp_path):
    port = free_port()
    primary = SimulatorProcess.start(SIM, port=port)
    secondary = SimulatorProcess.start(SimulatorConfig(latency_ms=100, rpm=SECONDARY_RPM))
    table = {"primary": {"base_url": primary.base_url, "fallbacks": ["secondary"]},
             "secondary": {"base_url": secondary.base_url, "rpm": SECONDARY_RPM}}
    settings = service_settings(secondary, tmp_path, AGENTFLOW_PROVIDERS=json.dumps(table),
                                AGENTFLOW_FALLBACK_COOLDOWN="1", AGENTFLOW_REQUEST_TIMEOUT="2",
                                AGENTFLOW_MAX_RETRIES="2")
    sims = {"primary": primary, "secondary": secondary}
    try:
        with own_service(settings, "fallback", with_batches=True) as url:
            yield url, sims, port
    finally:
        for sim in sims.values():
            sim.stop()


def outputs(url: str, batch_id: str) -> list[dict]:
    response = httpx.get(f"{url}/api/batches/{batch_id}/output", params={"format": "jsonl"}, timeout=60)
    return [json.loads(line) for line in response.text.splitlines()]


def wait_for_progress(url: str, batch_id: str, done: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(url, batch_id)
        if current["completed_items"] >= done or current["status"] not in ("queued", "processing"):
            return current
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not reach {done} items: {current}")


def assert_every_item_once(records: list[dict], expected: list[dict]) -> None:
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)), "an item came back twice"
    assert set(ids) == {item["id"] for item in expected}, "an item is missing"
    assert all(r["status"] == "completed" and r["result"]["label"] in CATEGORIES for r in records), \
        [r for r in records if r["status"] != "completed"][:3]


def test_a_killed_primary_hands_its_items_to_the_secondary_and_gets_them_back_once_restarted(two_providers):
    url, sims, port = two_providers
    batch = items(1500, prefix="first")
    created = submit(url, batch, model=MODEL)
    at_kill = wait_for_progress(url, created["batch_id"], 150)
    assert at_kill["status"] == "processing" and at_kill["completed_items"] < len(batch), at_kill
    os.kill(sims["primary"].pid, signal.SIGKILL)  # mid-batch: its calls in flight die with it

    final = wait_for(url, created["batch_id"], timeout=180)
    assert (final["status"], final["completed_items"], final["failed_items"]) == ("completed", len(batch), 0)
    records = outputs(url, created["batch_id"])
    assert_every_item_once(records, batch)
    providers = [record["provider"] for record in records]
    assert {"primary", "secondary"} == set(providers)
    assert providers.count("primary") >= 150 and providers.count("secondary") >= 500
    served = sims["secondary"].stats()
    assert served["accepted"] >= providers.count("secondary")
    assert served["rate_limited"] <= 0.02 * served["requests"], served  # its own limiter paced them

    sims["primary"].stop()
    sims["primary"] = SimulatorProcess.start(SIM, port=port)  # back, on the same port
    # Small batches until one is answered by the primary alone: a probe found it back and closed its circuit.
    deadline = time.monotonic() + 60
    while True:
        probe = submit(url, items(40, prefix=f"probe{int(time.monotonic() * 1000)}"), model=MODEL)
        wait_for(url, probe["batch_id"])
        if {record["provider"] for record in outputs(url, probe["batch_id"])} == {"primary"}:
            break
        assert time.monotonic() < deadline, "the primary never got its items back"
        time.sleep(0.2)

    secondary_before = sims["secondary"].stats()["requests"]
    after = items(300, prefix="after")
    again = submit(url, after, model=MODEL)
    assert wait_for(url, again["batch_id"])["status"] == "completed"
    records = outputs(url, again["batch_id"])
    assert_every_item_once(records, after)
    assert {record["provider"] for record in records} == {"primary"}
    assert sims["secondary"].stats()["requests"] == secondary_before
