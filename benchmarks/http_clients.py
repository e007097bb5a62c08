"""CPU per request of candidate HTTP clients against the simulator, in one process.

    .venv/bin/python benchmarks/http_clients.py [--requests 3000] [--concurrency 64]

Why the provider client (`engine.provider.client`) is aiohttp: on this workload it
spends a fraction of the CPU per request of httpx2 (the httpx API, whose
connection pool scans every pooled socket per request) and of httpx 0.28.
Each client sends the engine's own request body with one connection per
concurrent request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.baselines import make_items, request_bodies  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from engine.provider.client import ChatClient, ProviderSession  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

BODY = request_bodies(make_items(1))[0]


async def drive_httpx(module, base_url: str, requests: int, concurrency: int) -> None:
    limits = module.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with module.AsyncClient(limits=limits, timeout=60) as client:
        slots = asyncio.Semaphore(concurrency)

        async def one():
            async with slots:
                (await client.post(f"{base_url}/chat/completions", json=BODY)).json()

        await asyncio.gather(*(one() for _ in range(requests)))


async def drive_engine_client(base_url: str, requests: int, concurrency: int) -> None:
    """aiohttp, through the engine's own ChatClient (JSON both ways, error translation)."""
    http = ProviderSession(concurrency)
    client = ChatClient(http, base_url, "bench")
    slots = asyncio.Semaphore(concurrency)

    async def one():
        async with slots:
            await client.complete(BODY, 60)

    try:
        await asyncio.gather(*(one() for _ in range(requests)))
    finally:
        await http.close()


RUNNERS = {
    "aiohttp (engine)": drive_engine_client,
    "httpx2": lambda *args: drive_httpx(httpx2, *args),
    "httpx 0.28": lambda *args: drive_httpx(httpx, *args),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    rows = {}
    with SimulatorProcess.start(SimulatorConfig(latency_ms=50)) as sim:
        for name, run in RUNNERS.items():
            asyncio.run(run(sim.base_url, min(300, args.requests), args.concurrency))  # imports, first connections
            started, cpu = time.perf_counter(), time.process_time()
            asyncio.run(run(sim.base_url, args.requests, args.concurrency))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            rows[name] = {"requests_per_s": round(args.requests / elapsed),
                          "cpu_ms_per_request": round(cpu / args.requests * 1000, 3)}
    print(f"{'client':<18}{'req/s':>8}{'CPU ms/req':>12}")
    for name, row in rows.items():
        print(f"{name:<18}{row['requests_per_s']:>8}{row['cpu_ms_per_request']:>12}")
    engine = rows["aiohttp (engine)"]["cpu_ms_per_request"]
    for name in ("httpx2", "httpx 0.28"):
        print(f"CPU per request, {name} / aiohttp: {rows[name]['cpu_ms_per_request'] / engine:.1f}x")
    write_results("http_clients", {"requests": args.requests, "concurrency": args.concurrency,
                                   "body_bytes": len(json.dumps(BODY)), **rows})


if __name__ == "__main__":
    main()
