"""p50/p99 latency of a one-item label call through the service vs directly to the simulator.

Both run in this process, sequentially, over keep-alive connections, so the
difference is the service's own overhead (Serve proxy, replica, caller actor,
limiter lease, prompt building and validation).

    .venv/bin/python benchmarks/sync_latency.py [--calls 300] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, percentile, start_service, write_results  # noqa: E402
from engine.models import LabelParams  # noqa: E402
from engine.prompt.exchange import build_messages, request_body  # noqa: E402
from engine.prompt.operations import prepare  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

ITEM = {"content": "Customer says product is amazing but delivery was slow"}
CATEGORIES = ["positive", "negative", "mixed"]


def timed(call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()

    import ray

    with SimulatorProcess.start(SimulatorConfig(latency_ms=args.latency_ms)) as sim, \
            tempfile.TemporaryDirectory() as store:
        url = start_service(sim.base_url, store, free_port())
        plan = prepare("label", LabelParams(categories=CATEGORIES))
        direct_body = request_body(plan, "gpt-4.1-mini", build_messages(plan, ITEM))
        service_body = {"items": [ITEM], "categories": CATEGORIES}
        with httpx.Client(timeout=30) as client:
            def direct():
                client.post(f"{sim.base_url}/chat/completions", json=direct_body).raise_for_status()

            def through_service():
                client.post(f"{url}/api/completions/label", json=service_body).raise_for_status()

            timed(direct, 20), timed(through_service, 20)  # warm up connections and actors
            direct_ms, service_ms = timed(direct, args.calls), timed(through_service, args.calls)
        ray.shutdown()

    rows = {name: {"p50_ms": round(percentile(s, 50), 2), "p99_ms": round(percentile(s, 99), 2)}
            for name, s in (("direct", direct_ms), ("service", service_ms))}
    overhead = {k: round(rows["service"][k] - rows["direct"][k], 2) for k in ("p50_ms", "p99_ms")}
    print(f"{'path':<10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows.items():
        print(f"{name:<10}{row['p50_ms']:>10}{row['p99_ms']:>10}")
    print(f"{'overhead':<10}{overhead['p50_ms']:>10}{overhead['p99_ms']:>10}   (target: p50 overhead <= 20 ms)")
    print(f"ratio service/direct p50: {rows['service']['p50_ms'] / rows['direct']['p50_ms']:.2f}")
    write_results("sync_latency", {"calls": args.calls, "simulator_latency_ms": args.latency_ms, **rows,
                                   "overhead": overhead})


if __name__ == "__main__":
    main()
