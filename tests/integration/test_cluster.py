"""Two Ray nodes on this machine: the caller pool spreads over both, and a batch completes.

The cluster lives in a process of its own (tests/integration/cluster_script.py):
pytest's process is connected to the session's Ray. The script shuts its
cluster down on the way out; on a timeout this test stops it by its pid.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import kill_session

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("cluster_script.py")
ROOT = SCRIPT.parents[2]
TIMEOUT = 300
ITEMS = 300


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (the script then shuts its cluster down), SIGKILL to its session if it lingers."""
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        kill_session(process)  # the session is the script's own (start_new_session)


def run_script(store: Path, log: Path, *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ADDRESS", None)  # the script makes its own cluster; it must not join another
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, str(SCRIPT), str(store), str(ITEMS), *extra], env=env,
                                   stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
        try:
            out, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(process)
            raise AssertionError(f"the cluster script ran over {TIMEOUT}s: {log.read_text()[-3000:]}") from None
    lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, f"exit {process.returncode}: {log.read_text()[-3000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_callers_spread_over_both_nodes_and_a_batch_completes(tmp_path):
    result = run_script(tmp_path / "store", tmp_path / "cluster.log")
    assert len(result["cluster_nodes"]) == 2
    assert len(result["caller_nodes"]) == 4
    assert set(result["caller_nodes"]) == set(result["cluster_nodes"])  # SPREAD: callers on both nodes
    assert result["status"] == "completed" and result["completed_items"] == ITEMS
    assert result["rows"] == ITEMS and result["in_order"] and result["ids_match"]
    assert result["simulator_accepted"] == ITEMS  # each item called once


def test_a_worker_node_removed_mid_batch_the_batch_still_completes(tmp_path):
    result = run_script(tmp_path / "store", tmp_path / "cluster.log", "remove-node")
    assert result["removed_mid_batch"]
    assert result["status"] == "completed" and result["completed_items"] == ITEMS
    assert result["rows"] == ITEMS and result["in_order"] and result["ids_match"]  # none lost, none repeated
