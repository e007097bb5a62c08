"""Cascades over HTTP without Ray: the request's checks, a sync cascade, a batch's status and dry run.

Two simulator processes on loopback stand in for the models: "cheap" answers wrong on a
seeded 10% of items (and is unsure then), "strong" is the reference.
"""

import json

import pytest

from engine.sim.process import SimulatorProcess
from engine.sim.simulator import SimulatorConfig
from tests.http.test_api import make_client, wait_finished

CASCADE = {"models": ["cheap/gpt-4.1-nano", "strong/gpt-4.1"], "target_agreement": 0.9, "sample": 20}
CATEGORIES = ["positive", "negative", "mixed"]


@pytest.fixture(scope="module")
def models():
    cheap = SimulatorProcess.start(SimulatorConfig(latency_ms=5, logprobs=True, model_noise="gpt-4.1-nano=0.1", seed=3))
    strong = SimulatorProcess.start(SimulatorConfig(latency_ms=5, logprobs=True))
    with cheap, strong:
        yield cheap, strong


@pytest.fixture
def client(tmp_path, clean_simulator, models):
    providers = {name: {"base_url": sim.base_url, "logprobs": True, "dialect": "json_schema"}
                 for name, sim in zip(("cheap", "strong"), models)}
    with make_client(tmp_path, clean_simulator, AGENTFLOW_PROVIDERS=json.dumps(providers)) as test_client:
        yield test_client


ITEMS = [{"content": f"review {i}: the product arrived"} for i in range(3)]


@pytest.mark.parametrize("change,field,says", [
    ({"cascade": {**CASCADE, "models": ["cheap/gpt-4.1-nano"]}}, "cascade.models", "at least 2"),
    ({"cascade": {**CASCADE, "models": ["cheap/a", "strong/b", "strong/c"]}}, "cascade.models", "at most 2"),
    ({"cascade": {**CASCADE, "models": ["cheap/a", "cheap/a"]}}, "cascade.models", "must differ"),
    ({"cascade": {**CASCADE, "models": ["cheap/a", "nowhere/b"]}}, "cascade.models.1", "unknown provider 'nowhere'"),
    ({"cascade": {**CASCADE, "target_agreement": 1}}, "cascade.target_agreement", "less than 1"),
    ({"cascade": {**CASCADE, "target_agreement": 0}}, "cascade.target_agreement", "greater than 0"),
    ({"cascade": {**CASCADE, "sample": 0}}, "cascade.sample", "greater than or equal to 1"),
    ({"cascade": CASCADE, "model": "strong/gpt-4.1"}, "model", "not both"),
    ({"operation": "summarize", "categories": None, "cascade": CASCADE}, "cascade", "label and enrich only"),
    ({"operation": "enrich", "categories": None, "cascade": CASCADE,
      "fields": [{"name": "confidence", "type": "numeric"}]}, "fields.0.name", "another name"),
])
def test_a_bad_cascade_is_a_422_naming_its_field(client, change, field, says):
    body = {"operation": "label", "categories": CATEGORIES, "items": ITEMS, **change}
    body = {key: value for key, value in body.items() if value is not None}
    for path, payload in (("/api/batches", body), (f"/api/completions/{body['operation']}",
                                                   {k: v for k, v in body.items() if k != "operation"})):
        response = client.post(path, json=payload)
        error = response.json()["error"]
        assert response.status_code == 422 and error["field"] == field and says in error["message"], (path, error)


def test_a_sync_cascade_says_which_model_answered_each_item(client):
    items = [{"content": f"review {i}: the product arrived", "id": f"r{i}"} for i in range(50)]
    # 30 of 30 agreeing bound agreement at 0.917: a target of 0.8 leaves room for a threshold.
    spec = {**CASCADE, "sample": 30, "target_agreement": 0.8}
    response = client.post("/api/completions/label", json={"items": items, "categories": CATEGORIES,
                                                           "cascade": spec})
    assert response.status_code == 200, response.text
    body = response.json()
    strong = client.post("/api/completions/label", json={"items": items, "categories": CATEGORIES,
                                                         "model": "strong/gpt-4.1"}).json()
    cascade = body["cascade"]
    assert cascade["models"] == CASCADE["models"] and cascade["sample_items"] == 30
    assert cascade["threshold"] is not None
    assert [entry["id"] for entry in body["results"]] == [item["id"] for item in items]
    answered_by = [entry["model"] for entry in body["results"]]
    assert set(answered_by) == {"sim/gpt-4.1-nano", "sim/gpt-4.1"}
    assert answered_by.count("sim/gpt-4.1") == 30 + cascade["escalated_items"]
    assert all(0 <= entry["confidence"] <= 1 for entry in body["results"])
    kept = [entry for entry in body["results"] if entry["model"] == "sim/gpt-4.1-nano"]
    assert all(entry["confidence"] >= cascade["threshold"] for entry in kept)
    agree = sum(a["label"] == b["label"] for a, b in zip(body["results"], strong["results"]))
    assert agree >= 0.8 * 50
    assert body["estimated_cost"] == cascade["cost"] < cascade["strong_only_cost"]


def test_a_cascade_batch_shows_its_figures_and_a_dry_run_its_cost_range(client):
    items = [{"content": f"review {i}: delivery was slow"} for i in range(300)]
    body = {"operation": "classify", "categories": CATEGORIES, "items": items, "cascade": {**CASCADE, "sample": 60}}
    estimate = client.post("/api/batches", json={**body, "dry_run": True}).json()
    low, high = estimate["cascade_cost_range"]
    cheap_all = high - client.post("/api/batches", json={**{k: v for k, v in body.items() if k != "cascade"},
                                                          "model": "strong/gpt-4.1", "dry_run": True}).json()[
        "estimated_cost"]
    assert 0 < low < high == estimate["estimated_cost"] and low > cheap_all
    created = client.post("/api/batches", json=body).json()
    assert client.get(f"/api/batches/{created['batch_id']}").json()["cascade"]["threshold"] is None  # not yet
    status = wait_finished(client, created["batch_id"])
    assert status["status"] == "completed" and status["completed_items"] == 300
    cascade = status["cascade"]
    assert cascade["threshold"] is not None and cascade["sample_items"] == 60
    assert cascade["escalated_items"] < 300 * 0.3 and cascade["cost"] < cascade["strong_only_cost"]
    assert status["estimated_cost"] == cascade["cost"]
    page = client.get(f"/api/batches/{created['batch_id']}/output?format=json").json()
    models = [record["model"] for record in page["results"]]
    assert models.count("sim/gpt-4.1") == 60 + cascade["escalated_items"]
    lines = client.get(f"/api/batches/{created['batch_id']}/output?format=jsonl").text.splitlines()
    first = json.loads(lines[0])
    assert first["model"] in ("sim/gpt-4.1", "sim/gpt-4.1-nano") and first["confidence"] is not None


def test_an_uploaded_file_takes_a_cascade_as_a_json_field(client):
    rows = "review\n" + "".join(f"review {i} was fine\n" for i in range(40))
    form = {"operation": "classify", "categories": ",".join(CATEGORIES), "dry_run": "true",
            "cascade": json.dumps({**CASCADE, "sample": 10})}
    estimate = client.post("/api/files", data=form, files={"file": ("reviews.csv", rows.encode())}).json()
    assert estimate["total_items"] == 40 and estimate["model"] == "strong/gpt-4.1"
    low, high = estimate["cascade_cost_range"]
    assert 0 < low < high == estimate["estimated_cost"]
    bad = client.post("/api/files", data={**form, "cascade": json.dumps({**CASCADE, "sample": 0})},
                      files={"file": ("reviews.csv", rows.encode())})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cascade.sample"
