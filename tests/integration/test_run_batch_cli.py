"""`agentflow run-batch`: a batch file run locally on embedded Ray; killed mid-way, run again, it resumes."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.fixtures import kill_session
from tests.integration.test_openai_batch import request_line

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_batch(args, env, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "serve_app.cli", "run-batch", *args], env=env,
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def test_run_batch_resumes_after_a_kill_with_each_line_once(clean_simulator, tmp_path):
    clean_simulator.configure(latency_ms=300)
    requests = tmp_path / "requests.jsonl"
    lines = [request_line(f"c{i}", f"item {i}") for i in range(600)] + [
        request_line("broken", "x", response_format={"type": "bogus"})]
    requests.write_text("\n".join(lines) + "\n")
    output, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    args = ["-i", str(requests), "-o", str(output), "--errors", str(errors)]
    env = {**os.environ, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": clean_simulator.base_url,
           "AGENTFLOW_CALLER_CONCURRENCY": "16"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "run.log", "ab")
    first = run_batch(args, env, log)
    try:
        deadline = time.monotonic() + 120
        while clean_simulator.stats()["accepted"] < 100 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # past a flush of the results
    finally:
        kill_session(first)
    assert not output.exists()

    second = run_batch(args, env, log)
    assert second.wait(timeout=240) == 1, (tmp_path / "run.log").read_text()[-3000:]  # one request failed
    answered = [json.loads(line) for line in output.read_text().splitlines()]
    failed = [json.loads(line) for line in errors.read_text().splitlines()]
    assert sorted(line["custom_id"] for line in answered) == sorted(f"c{i}" for i in range(600))
    assert [line["custom_id"] for line in failed] == ["broken"]
    assert "resuming" in (tmp_path / "run.log").read_text()
    assert clean_simulator.stats()["accepted"] < 601 + 150  # the lines answered before the kill were not sent again
