"""CPU per request of candidate HTTP clients against the simulator, in one process.

    .venv/bin/python benchmarks/http_clients.py [--requests 3000] [--concurrency 64]

Why the provider client is httpx2: it keeps the httpx API, and one
AsyncClient drives many concurrent requests at a fraction of httpx 0.28's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_results  # noqa: E402
from engine.sim_process import SimulatorProcess  # noqa: E402
from engine.simulator import SimulatorConfig  # noqa: E402

BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hello there"}]}


async def drive(module, url: str, requests: int, concurrency: int) -> None:
    limits = module.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with module.AsyncClient(limits=limits, timeout=60) as client:
        slots = asyncio.Semaphore(concurrency)

        async def one():
            async with slots:
                (await client.post(url, json=BODY)).json()

        await asyncio.gather(*(one() for _ in range(requests)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    rows = {}
    with SimulatorProcess.start(SimulatorConfig(latency_ms=50)) as sim:
        url = f"{sim.base_url}/chat/completions"
        for name, module in (("httpx2", httpx2), ("httpx 0.28", httpx)):
            started, cpu = time.perf_counter(), time.process_time()
            asyncio.run(drive(module, url, args.requests, args.concurrency))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            rows[name] = {"requests_per_s": round(args.requests / elapsed), "cpu_ms_per_request": round(cpu / args.requests * 1000, 2)}
    print(f"{'client':<12}{'req/s':>8}{'CPU ms/req':>12}")
    for name, row in rows.items():
        print(f"{name:<12}{row['requests_per_s']:>8}{row['cpu_ms_per_request']:>12}")
    print(f"ratio httpx 0.28 / httpx2 CPU per request: {rows['httpx 0.28']['cpu_ms_per_request'] / rows['httpx2']['cpu_ms_per_request']:.1f}x")
    write_results("http_clients", {"requests": args.requests, "concurrency": args.concurrency, **rows})


if __name__ == "__main__":
    main()
