"""Load over loopback: 200 concurrent sync requests and 20 concurrent batch submissions."""

import asyncio

import httpx
import pytest

from tests.integration.test_batches import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_concurrent_sync_requests_and_batch_submissions(service, clean_simulator):
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        sync_body = {"items": [{"content": "load test item", "id": "s"}], "categories": ["a", "b"]}
        sync_calls = [client.post(f"{service}/api/completions/label", json=sync_body) for _ in range(200)]
        batch_calls = [
            client.post(f"{service}/api/batches", json={
                "operation": "label", "categories": ["a", "b"],
                "items": [{"content": f"batch {b} item {i}"} for i in range(50)]})
            for b in range(20)
        ]
        responses = await asyncio.gather(*sync_calls, *batch_calls)
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), statuses
    assert statuses[:200] == [200] * 200
    assert all("label" in r.json()["results"][0] for r in responses[:200])
    assert statuses[200:] == [201] * 20
    for response in responses[200:]:
        final = wait_for(service, response.json()["batch_id"], timeout=180)
        assert (final["status"], final["completed_items"]) == ("completed", 50)
