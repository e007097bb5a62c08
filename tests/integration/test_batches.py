"""Async batches over HTTP against the real service (Ray Serve, coordinator actors, simulator)."""

import csv
import io
import json
import time

import httpx
import pytest

pytestmark = pytest.mark.integration

CATEGORIES = ["positive", "negative", "mixed"]


def submit(service, items, **params):
    body = {"operation": "classify", "categories": CATEGORIES, "items": items, **params}
    response = httpx.post(f"{service}/api/batches", json=body, timeout=120)
    assert response.status_code == 201, response.text
    return response.json()


def status(service, batch_id):
    response = httpx.get(f"{service}/api/batches/{batch_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(service, batch_id, states=("completed", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(service, batch_id)
        if current["status"] in states:
            return current
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} still {current['status']} after {timeout}s: {current}")


def items(n, prefix="review"):
    return [{"content": f"{prefix} {i}: the product was fine", "id": f"{prefix}-{i}"} for i in range(n)]


def test_500_items_complete_in_order_in_every_format(service, clean_simulator):
    created = submit(service, items(500))
    assert created["status"] == "queued" and created["total_items"] == 500
    assert created["batch_id"].startswith("batch_")
    final = wait_for(service, created["batch_id"])
    assert final["status"] == "completed"
    assert (final["completed_items"], final["failed_items"], final["cancelled_items"]) == (500, 0, 0)
    assert final["progress_percentage"] == 100.0 and final["finished_at"] and final["expires_at"]
    assert final["usage"]["prompt_tokens"] > 0

    url = f"{service}/api/batches/{created['batch_id']}/output"
    page = httpx.get(url, params={"format": "json"}, timeout=60).json()
    assert page["partial"] is False and page["next_offset"] is None
    assert [r["index"] for r in page["results"]] == list(range(500))
    assert [r["id"] for r in page["results"]] == [f"review-{i}" for i in range(500)]
    assert all(r["status"] == "completed" and r["result"]["label"] in CATEGORIES for r in page["results"])

    lines = httpx.get(url, params={"format": "jsonl"}, timeout=60).text.splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(500))

    response = httpx.get(url, params={"format": "csv"}, timeout=60)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["index"]) for r in rows] == list(range(500))
    assert {"label", "confidence"} <= set(rows[0]) and rows[0]["label"] in CATEGORIES

    second = httpx.get(url, params={"format": "json", "offset": 490, "limit": 5}, timeout=60).json()
    assert [r["index"] for r in second["results"]] == [490, 491, 492, 493, 494]
    assert second["next_offset"] == 495


@pytest.mark.slow
def test_cancel_at_ten_percent_stops_within_five_seconds(service, clean_simulator):
    clean_simulator.configure(latency_ms=400)
    created = submit(service, items(3000, "slow"))
    batch_id = created["batch_id"]
    deadline = time.monotonic() + 60
    while status(service, batch_id)["completed_items"] < 300:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled_at = time.monotonic()
    response = httpx.post(f"{service}/api/batches/{batch_id}/cancel", timeout=30)
    assert response.status_code == 200 and response.json()["status"] in ("cancelling", "cancelled")
    final = wait_for(service, batch_id, states=("cancelled",), timeout=5)
    assert time.monotonic() - cancelled_at <= 5
    done = final["completed_items"] + final["failed_items"]
    assert 300 <= done < 3000
    assert done + final["cancelled_items"] == 3000  # every item accounted for
    time.sleep(1.5)
    assert status(service, batch_id) == final  # the counts stop moving

    page = httpx.get(f"{service}/api/batches/{batch_id}/output", params={"limit": 10000}, timeout=60).json()
    statuses = [r["status"] for r in page["results"]]
    assert statuses.count("completed") == final["completed_items"]
    assert statuses.count("cancelled") == final["cancelled_items"]
    again = httpx.post(f"{service}/api/batches/{batch_id}/cancel", timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"  # idempotent


def test_cancel_a_finished_batch_is_a_conflict_and_unknown_ids_are_404(service, clean_simulator):
    created = submit(service, items(5))
    wait_for(service, created["batch_id"])
    response = httpx.post(f"{service}/api/batches/{created['batch_id']}/cancel", timeout=30)
    assert response.status_code == 409
    for bad in ("batch_doesnotexist123", "..%2F..%2Fetc", "batch_../../x"):
        assert httpx.get(f"{service}/api/batches/{bad}", timeout=30).status_code == 404


def test_list_is_newest_first_and_idempotency_key_returns_the_first_batch(service, clean_simulator):
    body = {"operation": "label", "categories": CATEGORIES, "items": items(3)}
    headers = {"Idempotency-Key": f"key-{time.time()}"}
    first = httpx.post(f"{service}/api/batches", json=body, headers=headers, timeout=30)
    second = httpx.post(f"{service}/api/batches", json=body, headers=headers, timeout=30)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["batch_id"] == second.json()["batch_id"]
    other = httpx.post(f"{service}/api/batches", json={**body, "items": items(4)}, headers=headers, timeout=30)
    assert other.status_code == 422 and other.json()["error"]["field"] == "Idempotency-Key"
    latest = submit(service, items(2))
    listed = httpx.get(f"{service}/api/batches", timeout=30).json()["batches"]
    assert listed[0]["batch_id"] == latest["batch_id"]
    created = [b["created_at"] for b in listed]
    assert created == sorted(created, reverse=True)


def test_retry_reruns_only_the_failed_items(service, clean_simulator):
    # One good answer first: until a response shows the provider's limits (here: none), the
    # limiter probes at one call a second, and a provider failing every call never shows them.
    httpx.post(f"{service}/api/completions/label", json={"items": items(1), "categories": CATEGORIES}, timeout=30)
    clean_simulator.configure(error_rate=1.0)
    created = submit(service, items(20, "retry"))
    failed = wait_for(service, created["batch_id"])
    assert failed["status"] == "completed" and failed["failed_items"] == 20
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", timeout=30).json()
    assert all(r["status"] == "failed" and r["error"]["type"] == "provider_http_error" for r in page["results"])
    clean_simulator.configure(error_rate=0.0)
    clean_simulator.reset()
    response = httpx.post(f"{service}/api/batches/{created['batch_id']}/retry", timeout=30)
    assert response.status_code == 200
    final = wait_for(service, created["batch_id"])
    assert (final["completed_items"], final["failed_items"]) == (20, 0)
    assert clean_simulator.stats()["accepted"] == 20  # only the failed items were sent again
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", timeout=30).json()
    assert [r["status"] for r in page["results"]] == ["completed"] * 20
    assert httpx.post(f"{service}/api/batches/{created['batch_id']}/retry", timeout=30).status_code == 409


def test_batch_validation_errors(service):
    cases = [
        ({"operation": "translate", "items": [{"content": "x"}]}, 422),
        ({"operation": "label", "items": [], "categories": ["a"]}, 422),
        ({"operation": "label", "items": [{"content": "x"}]}, 422),
        ({"operation": "run", "items": [{"content": "x"}], "model": "unknown/x"}, 400),
        ([1, 2, 3], 422),
    ]
    for body, expected in cases:
        response = httpx.post(f"{service}/api/batches", json=body, timeout=30)
        assert response.status_code == expected, (body, response.text)
        assert response.json()["error"]["message"]
