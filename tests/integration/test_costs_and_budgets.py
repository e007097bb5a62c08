"""Cost estimates, dry runs, budgets, fail-fast, rich categories and logprob confidence."""

import httpx
import pytest

from tests.integration.test_batches import items, wait_for

pytestmark = pytest.mark.integration

CATEGORIES = ["positive", "negative", "mixed"]


def batch_body(n, **extra):
    return {"operation": "label", "categories": CATEGORIES, "items": items(n, "cost"), **extra}


def test_sync_responses_carry_an_estimated_cost(service, clean_simulator):
    body = {"items": [{"content": "fine"}], "categories": CATEGORIES}
    response = httpx.post(f"{service}/api/completions/label", json=body, timeout=30).json()
    usage = response["usage"]
    expected = (usage["prompt_tokens"] * 0.40 + usage["completion_tokens"] * 1.60) / 1e6  # gpt-4.1-mini prices
    assert response["estimated_cost"] == pytest.approx(expected, rel=1e-3)


def test_dry_run_calls_no_provider_and_estimates_within_15_percent(service, clean_simulator):
    estimate = httpx.post(f"{service}/api/batches", json=batch_body(200, dry_run=True), timeout=30).json()
    assert estimate["dry_run"] is True and estimate["total_items"] == 200
    assert clean_simulator.stats()["requests"] == 0
    created = httpx.post(f"{service}/api/batches", json=batch_body(200), timeout=30).json()
    final = wait_for(service, created["batch_id"])
    real = final["usage"]["prompt_tokens"] + final["usage"]["completion_tokens"]
    estimated = estimate["estimated_input_tokens"] + estimate["estimated_output_tokens"]
    assert abs(estimated - real) <= 0.15 * real, (estimate, final["usage"])
    assert final["estimated_cost"] == pytest.approx(estimate["estimated_cost"], rel=0.15)


@pytest.mark.slow
def test_max_cost_stops_near_the_budget_and_keeps_completed_work(service, clean_simulator):
    clean_simulator.configure(latency_ms=100)
    per_item = httpx.post(f"{service}/api/batches", json=batch_body(1, dry_run=True), timeout=30).json()
    budget = per_item["estimated_cost"] * 300  # about 300 of 2,000 items
    created = httpx.post(f"{service}/api/batches", json=batch_body(2000, max_cost=budget), timeout=30).json()
    final = wait_for(service, created["batch_id"])
    assert final["status"] == "cancelled" and final["reason"] == "budget_exceeded"
    assert final["estimated_cost"] <= budget * 1.25  # stops near it: only calls already in flight finish
    assert 150 <= final["completed_items"] < 2000
    assert final["completed_items"] + final["failed_items"] + final["cancelled_items"] == 2000
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output",
                     params={"limit": 10000}, timeout=60).json()
    cancelled = [r for r in page["results"] if r["status"] == "cancelled"]
    assert cancelled and cancelled[0]["error"]["message"] == "the batch reached its max_cost"
    assert sum(r["status"] == "completed" for r in page["results"]) == final["completed_items"]


def test_max_error_rate_stops_a_plainly_broken_batch_early(service, clean_simulator):
    httpx.post(f"{service}/api/completions/label", json={"items": items(1), "categories": CATEGORIES}, timeout=30)
    clean_simulator.configure(error_rate=1.0)
    body = batch_body(1000, max_error_rate=0.2, error_rate_min_items=50)
    created = httpx.post(f"{service}/api/batches", json=body, timeout=30).json()
    final = wait_for(service, created["batch_id"], timeout=120)
    assert final["status"] == "cancelled" and final["reason"] == "error_rate_exceeded"
    assert final["failed_items"] < 500 and final["cancelled_items"] > 500


def test_rich_categories_and_logprob_confidence(service, clean_simulator):
    clean_simulator.configure(logprobs=True)
    categories = [{"name": f"topic-{i}", "description": f"about subject {i}", "examples": [f"ex {i}"]}
                  for i in range(500)]
    body = {"items": [{"content": "a text about subject 7"}], "categories": categories, "include_rationale": True}
    response = httpx.post(f"{service}/api/completions/label", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["label"] in {c["name"] for c in categories}
    assert result["confidence_source"] == "logprobs" and 0 < result["confidence"] <= 1
    assert isinstance(result["rationale"], str)
    clean_simulator.configure(logprobs=False)
    plain = httpx.post(f"{service}/api/completions/label", json=body, timeout=60).json()["results"][0]
    assert plain["confidence_source"] == "self_reported"
