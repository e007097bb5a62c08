"""The engine against a real LLM: llama-cpp-python's server with SmolLM2-135M, as provider `local`.

The provider is configured by `base_url` alone: the engine finds the server's
structured-output dialect itself (llama.cpp's json_object + schema). What is
tested is what the engine guarantees, not the model's judgement: every answer
is valid for its schema or the item fails with its error, no item is lost or
repeated, and no call is spent on an error a retry cannot fix.
"""

import json
import time

import httpx
import pytest

from engine.config import Settings
from tests.fixtures import ThreadServer, own_service
from tests.real_model.llama import MODEL_ALIAS, CountingProxy, LlamaServer

# The first test also pays for the session fixtures: the model server, Ray, Serve (minutes on a loaded machine).
pytestmark = [pytest.mark.integration, pytest.mark.real_model, pytest.mark.timeout(600)]

MODEL = f"local/{MODEL_ALIAS}"
CATEGORIES = ["positive", "negative", "mixed"]
# Two caller processes at their default concurrency (256 each): llama-cpp-python answers one
# call at a time, and the engine's adaptive concurrency limit, one for both callers, keeps a
# few in flight rather than queueing hundreds past their timeout.
CALLERS = 2


@pytest.fixture(scope="session")
def llama(tmp_path_factory):
    with LlamaServer(tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def proxy(llama):
    counting = CountingProxy(llama.url)
    with ThreadServer(counting.app) as server:
        counting.url = server.url
        yield counting


@pytest.fixture(scope="session")
def real_service(ray_session, proxy, tmp_path_factory):
    settings = Settings.from_env({
        "AGENTFLOW_PROVIDERS": json.dumps({"local": {"base_url": f"{proxy.url}/v1"}}),
        "AGENTFLOW_DEFAULT_MODEL": MODEL,
        "AGENTFLOW_STORE": str(tmp_path_factory.mktemp("store")),
        "AGENTFLOW_CALLERS": str(CALLERS),
        "AGENTFLOW_REQUEST_TIMEOUT": "120",
    })
    with own_service(settings, "realmodel", with_batches=True) as url:
        yield url


def post(url, operation, body):
    response = httpx.post(f"{url}/api/completions/{operation}", json={"model": MODEL, **body}, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def assert_no_call_wasted(calls):
    """Refused calls: only the dialect's discovery, at most once per caller process."""
    refused = [call for call in calls if call.status != 200]
    assert all(call.status == 500 and call.asked == "json_schema" for call in refused), refused
    assert len(refused) <= CALLERS


def test_the_readme_label_reviews_come_back_labelled(real_service, proxy):
    start = len(proxy.calls)
    body = post(real_service, "label", {
        "items": [{"content": "Customer says product is amazing but delivery was slow"},
                  {"content": "Terrible experience, nothing works as advertised"},
                  {"content": "Good value for the price, would recommend", "id": "r-3"}],
        "categories": CATEGORIES, "multi_label": False})
    assert body["model"] == MODEL and len(body["results"]) == 3
    for result in body["results"]:
        assert result["label"] in CATEGORIES, result
        assert result["confidence"] is None or 0 <= result["confidence"] <= 1
    assert body["results"][2]["id"] == "r-3"
    calls = proxy.since(start)
    assert_no_call_wasted(calls)
    assert {call.asked for call in calls if call.status == 200} == {"json_object+schema"}  # llama.cpp's dialect


def test_the_readme_extract_example_gives_every_asked_key(real_service, proxy):
    start = len(proxy.calls)
    body = post(real_service, "extract", {
        "items": [{"content": "Hi, I am Sarah Chen, VP of Engineering at Acme Corp. "
                              "We want to migrate 500 seats by Q3."}],
        "extraction_instructions": "Extract: person_name, title, company, seat_count, timeline",
        "temperature": 0.0})
    result = body["results"][0]
    assert {"person_name", "title", "company", "seat_count", "timeline"} <= set(result), result
    assert_no_call_wasted(proxy.since(start))


def test_the_readme_enrich_example_gives_typed_fields(real_service, proxy):
    start = len(proxy.calls)
    body = post(real_service, "enrich", {
        "items": [{"content": "Enterprise SaaS company, 500 employees, Series C",
                   "metadata": {"company": "Acme Corp", "industry": "Technology"}}],
        "fields": [
            {"name": "company_segment", "type": "categorical", "description": "Market segment",
             "valid_values": ["enterprise", "mid-market", "smb"]},
            {"name": "estimated_arr", "type": "numeric", "description": "Estimated ARR range in millions"}],
        "include_context": True})
    result = body["results"][0]
    assert set(result) == {"company_segment", "estimated_arr"}, result
    assert result["company_segment"] in ["enterprise", "mid-market", "smb"]
    assert isinstance(result["estimated_arr"], (int, float)) and not isinstance(result["estimated_arr"], bool)
    assert_no_call_wasted(proxy.since(start))


REVIEWS = ["loved it, works great", "broke after two days", "fast delivery but the box was damaged",
           "exactly as described", "would not buy again", "decent for the price, support was slow"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_300_item_label_batch_completes_with_none_lost_or_repeated(real_service, proxy):
    items = [{"content": f"Order {i}: {REVIEWS[i % len(REVIEWS)]}", "id": f"o-{i}"} for i in range(300)]
    start, started = len(proxy.calls), time.perf_counter()
    response = httpx.post(f"{real_service}/api/batches", json={
        "operation": "classify", "model": MODEL, "categories": CATEGORIES, "items": items}, timeout=120)
    assert response.status_code == 201, response.text
    batch_id = response.json()["batch_id"]
    final = wait_finished(real_service, batch_id, timeout=1100)
    elapsed = time.perf_counter() - started

    assert final["status"] == "completed"
    assert final["completed_items"] + final["failed_items"] == 300 and final["cancelled_items"] == 0
    assert final["completed_items"] >= 291, final  # at least 97%
    page = httpx.get(f"{real_service}/api/batches/{batch_id}/output", params={"format": "json"}, timeout=60).json()
    rows = page["results"]
    assert [r["index"] for r in rows] == list(range(300)) and [r["id"] for r in rows] == [i["id"] for i in items]
    for row in rows:
        if row["status"] == "completed":
            assert row["result"]["label"] in CATEGORIES, row
        else:
            assert row["status"] == "failed" and row["error"]["type"] and row["error"]["message"], row
    calls = proxy.since(start)
    assert_no_call_wasted(calls)
    assert len(calls) == sum(row["attempts"] for row in rows)  # every call the server got, an item's attempt
    assert final["concurrency"]["source"] == "adaptive" and final["concurrency"]["limit"] <= 8, final
    assert not any(call.abandoned for call in calls)  # no call queued past its timeout
    print(f"\n300 labels against SmolLM2-135M: {final['completed_items']} completed in {elapsed:.0f} s "
          f"({300 / elapsed:.2f} items/s), {len(calls)} calls to the server, "
          f"{sum(c.status != 200 for c in calls)} refused, concurrency limit {final['concurrency']['limit']}")


def wait_finished(url, batch_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = httpx.get(f"{url}/api/batches/{batch_id}", timeout=30).json()
        if current["status"] in ("completed", "failed", "cancelled"):
            return current
        time.sleep(1)
    raise AssertionError(f"batch {batch_id} still {current['status']} after {timeout}s: {current}")
