"""The `agentflow` command line end to end, in its own process, against the real service."""

import csv
import io
import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def agentflow(service, *argv, timeout=180):
    env = {**os.environ, "AGENTFLOW_URL": service}
    env.pop("AGENTFLOW_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "serve_app.cli", *argv], env=env, capture_output=True,
                          timeout=timeout)


def test_submit_wait_output_then_status_and_output(service, clean_simulator, tmp_path):
    source = tmp_path / "reviews.csv"
    source.write_text("content,id,product\n" + "".join(f"review {i},r-{i},Widget\n" for i in range(40)))
    results = tmp_path / "results.csv"

    run = agentflow(service, "submit", str(source), "--operation", "label", "--categories", "positive,negative",
                    "--id-column", "id", "--user-prompt-template", "{product}: {content}", "--wait",
                    "--output", str(results))
    stderr = run.stderr.decode()
    assert run.returncode == 0, stderr
    final = json.loads(run.stdout)
    assert final["status"] == "completed" and final["completed_items"] == 40
    assert "40/40" in stderr and "items/s" in stderr and f"wrote 40 items to {results}" in stderr
    rows = list(csv.DictReader(results.open(newline="", encoding="utf-8")))
    assert [r["id"] for r in rows] == [f"r-{i}" for i in range(40)]
    assert {r["label"] for r in rows} <= {"positive", "negative"}

    status = agentflow(service, "status", final["batch_id"])
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "completed"
    output = agentflow(service, "output", final["batch_id"], "--format", "csv")
    assert output.returncode == 0
    assert [r["index"] for r in csv.DictReader(io.StringIO(output.stdout.decode()))] == [str(i) for i in range(40)]
    jsonl = tmp_path / "out.jsonl"
    assert agentflow(service, "output", final["batch_id"], "--output", str(jsonl)).returncode == 0
    assert len(jsonl.read_text().splitlines()) == 40

    cancel = agentflow(service, "cancel", final["batch_id"])
    assert cancel.returncode == 1 and cancel.stderr.decode().count("\n") == 1  # 409: already completed
    assert "already completed" in cancel.stderr.decode() and "[conflict" in cancel.stderr.decode()


def test_serve_refuses_a_port_another_process_serves_on(tmp_path):
    # Serve binds with SO_REUSEPORT: without the check a second service would share the port.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "AGENTFLOW_PORT": str(port), "AGENTFLOW_STORE": str(tmp_path / "store")}
        env.pop("RAY_ADDRESS", None)
        run = subprocess.run([sys.executable, "-m", "serve_app.cli", "serve"], env=env, capture_output=True, timeout=120)
    stderr = run.stderr.decode()
    assert run.returncode == 1, stderr
    assert f"127.0.0.1:{port} is taken" in stderr and stderr.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "store").exists()  # refused before anything started
