"""Shared helpers of the benchmark harnesses: a local Ray + service, percentiles, results."""

from __future__ import annotations

import json
import resource
import socket
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib(processes: list) -> float:
    """The summed RSS of `processes` (psutil.Process), in MiB; one that exited since it was listed counts 0."""
    import psutil  # Ray's bundled copy: the benchmarks that measure processes import ray first

    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def write_results(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                **data}, indent=2))
    return path


def start_service(simulator_url: str, store: str, port: int, **env) -> str:
    """Local Ray + the Serve app against `simulator_url`; returns the service URL once healthy."""
    import httpx

    from engine.config import Settings
    from serve_app.deployment import start

    settings = Settings.from_env({"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": simulator_url,
                                  "AGENTFLOW_STORE": store, "AGENTFLOW_PORT": str(port), **env})
    start(settings)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("service did not become healthy")
