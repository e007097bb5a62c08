"""Faults survived: hangs, connection resets, a killed caller actor, a killed coordinator."""

import contextlib
import socket
import struct
import threading
import time

import httpx
import pytest
import ray

from tests.fixtures import own_service, service_settings
from tests.integration.test_batches import items, status, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class ResettingServer:
    """Accepts TCP connections and resets them at once (RST): a provider whose connections die."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()


@pytest.fixture
def fault_service(ray_session, simulator, tmp_path):
    """A service with a short timeout and few retries, so hangs and resets fail fast."""
    with contextlib.ExitStack() as services:

        def start(base_url, name):
            fake = type("Sim", (), {"base_url": base_url})
            settings = service_settings(fake, tmp_path, AGENTFLOW_REQUEST_TIMEOUT="1", AGENTFLOW_MAX_RETRIES="2",
                                        AGENTFLOW_RPM="6000")
            return services.enter_context(own_service(settings, name))

        yield start


def label(url, n):
    body = {"items": [{"content": f"text {i}"} for i in range(n)], "categories": ["a", "b"]}
    return httpx.post(f"{url}/api/completions/label", json=body, timeout=120).json()


def test_hangs_past_the_timeout_are_retried_then_become_item_errors(fault_service, clean_simulator):
    url = fault_service(clean_simulator.base_url, "hangs")
    clean_simulator.configure(hang_rate=0.3, hang_seconds=30)
    results = label(url, 20)["results"]
    # A hung attempt is abandoned after 1 s and retried: most items complete, and an item fails
    # only if all 3 of its attempts hung (0.3^3 each), and then as a timeout, not anything else.
    assert all("label" in r or r["error"]["type"] == "provider_timeout" for r in results), results
    assert sum("label" in r for r in results) >= 16
    assert clean_simulator.stats()["hangs"] > 0
    clean_simulator.configure(hang_rate=1.0)
    started = time.monotonic()
    results = label(url, 2)["results"]
    assert [r["error"]["type"] for r in results] == ["provider_timeout"] * 2
    assert time.monotonic() - started < 20  # 3 attempts of 1 s plus backoff, not 30 s hangs


def test_connection_resets_are_retried_then_become_item_errors(fault_service):
    resetting = ResettingServer()
    url = fault_service(resetting.base_url, "resets")
    results = label(url, 3)["results"]
    assert [r["error"]["type"] for r in results] == ["provider_connection_error"] * 3
    assert resetting.accepted >= 3 * 3  # every item was tried 1 + max_retries times


def outputs(service, batch_id):
    page = httpx.get(f"{service}/api/batches/{batch_id}/output", params={"limit": 10000}, timeout=60).json()
    return page["results"]


def test_a_caller_actor_killed_mid_batch_loses_and_repeats_nothing(service, clean_simulator):
    clean_simulator.configure(latency_ms=200)
    batch_id = submit(service, items(1500, "callerkill"))["batch_id"]
    while status(service, batch_id)["completed_items"] < 200:
        time.sleep(0.1)
    ray.kill(ray.get_actor("agentflow-caller-0", namespace="agentflow"), no_restart=False)
    final = wait_for(service, batch_id, timeout=180)
    assert (final["status"], final["completed_items"], final["failed_items"]) == ("completed", 1500, 0)
    records = outputs(service, batch_id)
    assert [r["index"] for r in records] == list(range(1500))
    assert all(r["status"] == "completed" for r in records)


def test_a_coordinator_killed_mid_batch_is_restarted_and_resumes(service, clean_simulator):
    clean_simulator.configure(latency_ms=200)
    batch_id = submit(service, items(1500, "coordkill"))["batch_id"]
    while status(service, batch_id)["completed_items"] < 200:
        time.sleep(0.1)
    ray.kill(ray.get_actor(f"agentflow-batch-{batch_id}", namespace="agentflow"), no_restart=False)
    final = wait_for(service, batch_id, timeout=180)
    assert (final["status"], final["completed_items"], final["failed_items"]) == ("completed", 1500, 0)
    assert [r["index"] for r in outputs(service, batch_id)] == list(range(1500))
