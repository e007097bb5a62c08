"""Not paying twice: the response cache across runs, duplicate folding within a batch."""

import httpx
import pytest

from tests.integration.test_batches import wait_for

pytestmark = pytest.mark.integration


def run_batch(service, items, **extra):
    body = {"operation": "label", "categories": ["a", "b"], "items": items, **extra}
    created = httpx.post(f"{service}/api/batches", json=body, timeout=60).json()
    final = wait_for(service, created["batch_id"])
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", params={"limit": 10000}, timeout=60)
    return final, page.json()["results"]


def test_a_batch_run_twice_with_the_cache_calls_the_provider_once(service, clean_simulator, tmp_path):
    items = [{"content": f"cache-run-{tmp_path.name} item {i}", "id": str(i)} for i in range(200)]
    first, first_results = run_batch(service, items, cache=True)
    assert clean_simulator.stats()["accepted"] == 200 and first["cached_items"] == 0
    clean_simulator.reset()
    second, second_results = run_batch(service, items, cache=True)
    assert clean_simulator.stats()["requests"] == 0  # no provider call at all
    assert second["cached_items"] == 200 and second["completed_items"] == 200
    assert [r["result"] for r in second_results] == [r["result"] for r in first_results]
    assert all(r["cached"] for r in second_results)
    assert second["usage"]["prompt_tokens"] == 0  # nothing paid the second time


def test_half_duplicate_rows_send_half_the_calls(service, clean_simulator, tmp_path):
    unique = [f"dup-{tmp_path.name} {i}" for i in range(100)]
    items = [{"content": text, "id": f"{n}-{text}"} for n in range(2) for text in unique]
    final, results = run_batch(service, items)
    assert final["completed_items"] == 200 and final["folded_items"] == 100
    assert clean_simulator.stats()["accepted"] == 100
    by_content = {}
    for item, result in zip(items, results):
        assert result["id"] == item["id"]
        by_content.setdefault(item["content"], []).append(result["result"])
    assert all(a == b for a, b in by_content.values())  # every duplicate got its twin's answer


def test_sync_cache(service, clean_simulator, tmp_path):
    body = {"items": [{"content": f"sync-cache-{tmp_path.name}"}], "categories": ["a", "b"], "cache": True}
    first = httpx.post(f"{service}/api/completions/label", json=body, timeout=30).json()
    second = httpx.post(f"{service}/api/completions/label", json=body, timeout=30).json()
    assert clean_simulator.stats()["accepted"] == 1
    assert second["results"][0]["cached"] is True
    assert second["results"][0]["label"] == first["results"][0]["label"]
