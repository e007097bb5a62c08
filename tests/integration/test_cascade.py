"""Cascades end to end: local Ray, the service over loopback HTTP, the Python driver, two simulators.

"cheap" (gpt-4.1-nano) answers wrong on a seeded 10% of items, unsure when it does; "strong"
(gpt-4.1) is the reference. Neither is told which items: the draw is the simulator's own.
"""

import json

import httpx
import pytest
import ray

import engine
from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.fixtures import own_service, service_settings
from tests.integration.test_batches import wait_for

pytestmark = pytest.mark.integration

CATEGORIES = ["positive", "negative", "mixed"]
CASCADE = {"models": ["cheap/gpt-4.1-nano", "strong/gpt-4.1"], "target_agreement": 0.9, "sample": 100}
POOL = "cascade"


@pytest.fixture(scope="module")
def settings(ray_session, simulator, tmp_path_factory):
    cheap = SimulatorProcess.start(SimulatorConfig(latency_ms=10, logprobs=True, model_noise="gpt-4.1-nano=0.1",
                                                   seed=11))
    strong = SimulatorProcess.start(SimulatorConfig(latency_ms=10, logprobs=True))
    providers = {name: {"base_url": sim.base_url, "logprobs": True, "dialect": "json_schema"}
                 for name, sim in (("cheap", cheap), ("strong", strong))}
    with cheap, strong:
        yield service_settings(simulator, tmp_path_factory.mktemp("cascade-store"),
                               AGENTFLOW_PROVIDERS=json.dumps(providers))


@pytest.fixture(scope="module")
def url(settings):
    with own_service(settings, POOL, with_batches=True) as service_url:
        yield service_url


def reviews(n):
    return [{"content": f"review {i}: arrived late but works", "id": f"r{i}"} for i in range(n)]


def labels(url, batch_id):
    lines = httpx.get(f"{url}/api/batches/{batch_id}/output", params={"format": "jsonl"}, timeout=60).text
    return [json.loads(line) for line in lines.splitlines()]


def test_a_cascade_batch_over_http_agrees_with_the_strong_model_for_less(url):
    body = {"operation": "classify", "categories": CATEGORIES, "items": reviews(800)}
    created = httpx.post(f"{url}/api/batches", json={**body, "cascade": CASCADE}, timeout=60).json()
    final = wait_for(url, created["batch_id"], timeout=300)
    strong = wait_for(url, httpx.post(f"{url}/api/batches", json={**body, "model": "strong/gpt-4.1"},
                                      timeout=60).json()["batch_id"], timeout=300)
    assert final["status"] == "completed" and final["completed_items"] == 800
    cascade = final["cascade"]
    assert cascade["threshold"] is not None and cascade["sample_items"] == 100
    assert 0 < cascade["escalated_items"] < 0.2 * 800
    records, reference = labels(url, created["batch_id"]), labels(url, strong["batch_id"])
    assert [r["index"] for r in records] == list(range(800))  # every item once, in order
    answered_by_strong = [r for r in records if r["model"] == "sim/gpt-4.1"]
    assert len(answered_by_strong) == 100 + cascade["escalated_items"]
    kept = [r for r in records if r["model"] == "sim/gpt-4.1-nano"]
    assert kept and all(r["confidence"] >= cascade["threshold"] for r in kept)
    agree = sum(a["result"]["label"] == b["result"]["label"] for a, b in zip(records, reference))
    assert agree / 800 >= CASCADE["target_agreement"]
    # Its cost is each model's tokens at its price; strong-only's estimate is near strong-only's real cost.
    assert final["estimated_cost"] == cascade["cost"] < 0.5 * strong["estimated_cost"]
    assert cascade["strong_only_cost"] == pytest.approx(strong["estimated_cost"], rel=0.05)


def test_a_sync_cascade_over_http(url):
    body = {"items": reviews(50), "categories": CATEGORIES,
            "cascade": {**CASCADE, "sample": 30, "target_agreement": 0.8}}
    response = httpx.post(f"{url}/api/completions/label", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [entry["id"] for entry in answer["results"]] == [f"r{i}" for i in range(50)]
    assert {entry["model"] for entry in answer["results"]} <= {"sim/gpt-4.1-nano", "sim/gpt-4.1"}
    strong = sum(entry["model"] == "sim/gpt-4.1" for entry in answer["results"])
    assert strong == 30 + answer["cascade"]["escalated_items"]
    assert answer["estimated_cost"] == answer["cascade"]["cost"]


def test_the_python_driver_runs_a_cascade_and_its_results_name_the_model(settings):
    client = engine.connect(settings=settings, pool_name=POOL)
    try:
        batch = client.submit(reviews(300), operation="classify", categories=CATEGORIES, cascade=CASCADE)
        final = batch.wait(progress=False, timeout=300)
        frame = batch.results()
    finally:
        client.close()
    assert final["status"] == "completed" and final["cascade"]["threshold"] is not None
    assert frame.height == 300 and set(frame["model"].unique()) == {"sim/gpt-4.1-nano", "sim/gpt-4.1"}
    assert frame.filter(frame["model"] == "sim/gpt-4.1").height == 100 + final["cascade"]["escalated_items"]
    assert frame["confidence"].null_count() == 0
