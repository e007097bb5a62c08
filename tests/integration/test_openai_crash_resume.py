"""A SIGKILL of the whole service mid-way through an OpenAI SDK batch: after a restart the same SDK calls
see it complete, each line once (the service runs as `agentflow serve` in a session of its own)."""

import json
import os
import time

import openai
import pytest

from tests.conftest import free_port
from tests.fixtures import kill_session, wait_healthy
from tests.integration.test_crash_resume import start_service
from tests.integration.test_openai_batch import client_of, lines_of, request_line, submit

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def retrieve(client, batch_id):
    """The batch, or None while the restarted service is not answering yet."""
    try:
        return client.batches.retrieve(batch_id)
    except (openai.APIConnectionError, openai.InternalServerError):
        return None


def test_sigkill_mid_batch_then_restart_completes_each_line_once(clean_simulator, tmp_path):
    clean_simulator.configure(latency_ms=300)
    port = free_port()
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": clean_simulator.base_url,
           "AGENTFLOW_STORE": str(tmp_path / "store"), "AGENTFLOW_PORT": str(port),
           "AGENTFLOW_CALLER_CONCURRENCY": "32", "AGENTFLOW_API_KEYS": "tenant-key"}
    env.pop("RAY_ADDRESS", None)
    url = f"http://127.0.0.1:{port}"
    client = client_of(url, api_key="tenant-key")
    log = open(tmp_path / "service.log", "ab")
    service = start_service(env, log)
    try:
        wait_healthy(url, timeout=120)
        batch = submit(client, [request_line(f"line-{i}", f"item {i}") for i in range(1000)])
        while client.batches.retrieve(batch.id).request_counts.completed < 150:
            time.sleep(0.2)
    finally:
        kill_session(service)

    service = start_service(env, log)
    try:
        wait_healthy(url, timeout=120)
        deadline = time.monotonic() + 180
        while True:
            final = retrieve(client, batch.id)
            if (final and final.status == "completed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert final and final.status == "completed", (final, (tmp_path / "service.log").read_text()[-3000:])
        assert (final.request_counts.completed, final.request_counts.failed) == (1000, 0)
        output = lines_of(client, final.output_file_id)
        assert sorted(line["custom_id"] for line in output) == sorted(f"line-{i}" for i in range(1000))
        assert final.error_file_id is None
        assert clean_simulator.stats()["accepted"] < 1000 + 300  # what was done before the kill was not sent again
        with pytest.raises(openai.AuthenticationError):
            client_of(url, api_key="wrong").batches.retrieve(batch.id)
    finally:
        kill_session(service)
