"""The whole service killed with SIGKILL mid-batch, started again: the batch completes, each item once.

The service under test runs as `agentflow serve` in a session of its own (with
its own embedded Ray), so the kill takes all of it down, as a machine crash
would; only the store on disk survives.
"""

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port
from tests.fixtures import kill_session, wait_healthy

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_service(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "serve_app.cli", "serve"], env=env, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)


def batch_status(url: str, batch_id: str) -> dict | None:
    """The status, or None while the restarted service is not answering yet."""
    try:
        return httpx.get(f"{url}/api/batches/{batch_id}", timeout=10).json()
    except httpx.TransportError:
        return None


def test_sigkill_mid_batch_then_restart_completes_every_item_once(clean_simulator, tmp_path):
    clean_simulator.configure(latency_ms=300)
    port = free_port()
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": clean_simulator.base_url,
           "AGENTFLOW_STORE": str(tmp_path / "store"), "AGENTFLOW_PORT": str(port),
           "AGENTFLOW_CALLER_CONCURRENCY": "32"}
    env.pop("RAY_ADDRESS", None)
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "service.log", "ab")
    service = start_service(env, log)
    try:
        wait_healthy(url, timeout=120)
        body = {"operation": "label", "categories": ["a", "b"],
                "items": [{"content": f"item {i}", "id": str(i)} for i in range(1000)]}
        batch_id = httpx.post(f"{url}/api/batches", json=body, timeout=60).json()["batch_id"]
        while httpx.get(f"{url}/api/batches/{batch_id}", timeout=10).json()["completed_items"] < 150:
            time.sleep(0.2)
    finally:
        kill_session(service)

    service = start_service(env, log)
    try:
        wait_healthy(url, timeout=120)
        deadline = time.monotonic() + 180
        while True:
            status = batch_status(url, batch_id)
            if (status and status["status"] == "completed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status and status["status"] == "completed", (status, (tmp_path / "service.log").read_text()[-3000:])
        assert (status["completed_items"], status["failed_items"], status["cancelled_items"]) == (1000, 0, 0)
        page = httpx.get(f"{url}/api/batches/{batch_id}/output", params={"limit": 10000}, timeout=60).json()
        assert [r["index"] for r in page["results"]] == list(range(1000))  # each item exactly once
        assert [r["id"] for r in page["results"]] == [str(i) for i in range(1000)]
        assert all(r["status"] == "completed" for r in page["results"])
        # Items done before the crash were not sent again (at most the last unflushed second was).
        assert clean_simulator.stats()["accepted"] < 1000 + 300
    finally:
        kill_session(service)
