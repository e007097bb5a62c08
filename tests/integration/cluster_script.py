"""A two-node Ray cluster on this machine: callers on both nodes, and a batch completing across them.

Run by tests/integration/test_cluster.py in a process of its own: a process
can be connected to one Ray only, and pytest's is the session's. It starts a
head and one worker node with `ray.cluster_utils.Cluster` and its own
simulator, drives a batch through `engine.connect()`, and prints one line
`RESULT {json}`. The cluster is shut down on the way out, on failure and on
SIGTERM too.

    python tests/integration/cluster_script.py STORE_DIR [ITEMS] [remove-node]

With `remove-node`, the worker node is removed while the batch runs: its
callers (and the coordinator, if it was there) are restarted on the head
and the batch still completes, each item once.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, when run as a script

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

import engine  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

CALLERS = 4
CATEGORIES = ["positive", "negative", "mixed"]


def run_batch(simulator: SimulatorProcess, store: str, count: int, remove=None) -> dict:
    settings = Settings.from_env({
        "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": simulator.base_url, "AGENTFLOW_STORE": store,
        "AGENTFLOW_CALLERS": str(CALLERS), "AGENTFLOW_CALLER_CONCURRENCY": "32", "AGENTFLOW_REQUEST_TIMEOUT": "10",
    })
    client = engine.connect(settings=settings, pool_name="cluster")  # reuses this process's Ray
    caller_nodes = ray.get([caller.node_id.remote() for caller in client.pool.callers], timeout=120)
    items = [{"content": f"review {i}", "id": f"c-{i}"} for i in range(count)]
    batch = client.submit(items, operation="label", categories=CATEGORIES)
    removed = False
    if remove is not None:
        while batch.status()["completed_items"] < count // 5:
            time.sleep(0.1)
        remove()
        removed = batch.status()["completed_items"] < count
    final = batch.wait(progress=False, timeout=180)
    frame = batch.results()
    return {
        "cluster_nodes": sorted(node["NodeID"] for node in ray.nodes() if node["Alive"]),
        "caller_nodes": caller_nodes,
        "status": final["status"],
        "completed_items": final["completed_items"],
        "rows": frame.height,
        "in_order": frame["index"].to_list() == list(range(count)),
        "ids_match": frame["id"].to_list() == [item["id"] for item in items],
        "simulator_accepted": simulator.stats()["accepted"],
        "removed_mid_batch": removed,
    }


def main(argv: list[str]) -> int:
    store, count = argv[0], int(argv[1]) if len(argv) > 1 else 300
    remove_node = len(argv) > 2 and argv[2] == "remove-node"
    # SIGTERM (the test's timeout) becomes SystemExit, so the finally blocks below still run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="agentflow", log_to_driver=False)
        # Slow answers when a node is removed: the batch must still run once remove_node returns (at 200 ms
        # a batch lasted about a second, and once, on a busy machine, it was over by then).
        latency = 1000 if remove_node else 20
        with SimulatorProcess.start(SimulatorConfig(latency_ms=latency)) as simulator:
            remove = (lambda: cluster.remove_node(worker)) if remove_node else None
            print("RESULT " + json.dumps(run_batch(simulator, store, count, remove)), flush=True)
        return 0
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
