"""The 300-item label batch against a real LLM, at the engine's own concurrency and at fixed ones.

    .venv/bin/python benchmarks/real_model.py [--items 300] [--rounds 1] [--settings engine,1,4,16,64]

The server is llama-cpp-python's with SmolLM2-135M (tests/real_model/llama.py,
after `make install`), configured by `base_url` alone, behind the counting
proxy. Each setting runs the batch through a service of its own (own caller
pool and limiter, so the adaptive limit starts afresh): `engine` with the
adaptive limit, a number N pinned by `max_concurrency: N` (N calls in flight
for the cluster). The settings run interleaved, round after round, so a
machine whose other load changes slows them alike.

Per run: items/s (items ended / seconds from submit to the end), p50/p99 of
the items' latency in the caller (waiting for a slot included), timeouts
(calls the engine gave up on: the proxy saw it gone), retries (calls beyond
one per item, the dialect's discovery included) and the limit the engine
settled on. Prints a table; writes benchmarks/results/real_model.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.baselines import download, store_latencies  # noqa: E402
from benchmarks.common import percentile, write_results  # noqa: E402
from engine.config import Settings  # noqa: E402
from tests.fixtures import ThreadServer, own_service  # noqa: E402
from tests.real_model.llama import MODEL_ALIAS, CountingProxy, LlamaServer  # noqa: E402
from tests.real_model.test_llama_server import CATEGORIES, REVIEWS  # noqa: E402

MODEL = f"local/{MODEL_ALIAS}"
WITHIN = 0.10  # the engine's items/s should be within 10% of the best fixed setting's


def items(n: int) -> list[dict]:
    return [{"content": f"Order {i}: {REVIEWS[i % len(REVIEWS)]}", "id": f"o-{i}"} for i in range(n)]


def settings_for(proxy_url: str, store: str, setting: str) -> Settings:
    provider = {"base_url": f"{proxy_url}/v1"}
    if setting != "engine":
        provider["max_concurrency"] = int(setting)
    return Settings.from_env({"AGENTFLOW_PROVIDERS": json.dumps({"local": provider}),
                              "AGENTFLOW_DEFAULT_MODEL": MODEL, "AGENTFLOW_STORE": store})


def run_once(proxy: CountingProxy, setting: str, n: int, round_: int) -> dict:
    store = tempfile.mkdtemp(prefix=f"agentflow-realbench-{setting}-")
    start = len(proxy.calls)
    with own_service(settings_for(proxy.url, store, setting), f"realbench-{setting}-{round_}",
                     with_batches=True) as url, httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        body = {"operation": "classify", "model": MODEL, "categories": CATEGORIES, "items": items(n)}
        batch_id = client.post(f"{url}/api/batches", json=body).raise_for_status().json()["batch_id"]
        while (status := client.get(f"{url}/api/batches/{batch_id}").raise_for_status().json())["status"] not in (
                "completed", "failed", "cancelled"):
            time.sleep(1)
        elapsed = time.perf_counter() - started
        records = download(client, url, batch_id)
    calls = proxy.since(start)
    latencies = [ms / 1000 for ms in store_latencies(store, batch_id).values()]
    ended = status["completed_items"] + status["failed_items"]
    return {
        "setting": setting, "round": round_, "elapsed_s": round(elapsed, 1),
        "items_per_s": round(ended / elapsed, 3), "completed": status["completed_items"],
        "failed": status["failed_items"], "p50_s": round(percentile(latencies, 50), 2),
        "p99_s": round(percentile(latencies, 99), 2), "calls": len(calls),
        "timeouts": sum(call.abandoned for call in calls),
        "retries": sum(r["attempts"] for r in records) - n, "refused": sum(call.status != 200 for call in calls),
        "concurrency": status.get("concurrency"),
    }


def summary(runs: list[dict]) -> dict:
    by_setting: dict[str, list[dict]] = {}
    for run in runs:
        by_setting.setdefault(run["setting"], []).append(run)
    rates = {setting: statistics.median(r["items_per_s"] for r in rs) for setting, rs in by_setting.items()}
    fixed = {s: rate for s, rate in rates.items() if s != "engine"}
    if "engine" not in rates or not fixed:
        return {"items_per_s": rates}
    best = max(fixed, key=fixed.get)
    ratio = rates["engine"] / fixed[best]
    return {"items_per_s": rates, "best_fixed": best, "engine_over_best": round(ratio, 3),
            "engine_within_10pct": ratio >= 1 - WITHIN}


def print_table(runs: list[dict]) -> None:
    print(f"{'setting':>8} {'round':>5} {'items/s':>8} {'p50 s':>7} {'p99 s':>7} {'timeouts':>8} {'retries':>7} "
          f"{'failed':>6} {'limit':>6}")
    for r in runs:
        limit = (r["concurrency"] or {}).get("limit")
        print(f"{r['setting']:>8} {r['round']:>5} {r['items_per_s']:>8.3f} {r['p50_s']:>7.2f} {r['p99_s']:>7.2f} "
              f"{r['timeouts']:>8} {r['retries']:>7} {r['failed']:>6} {limit!s:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--settings", default="engine,1,4,16,64")
    args = parser.parse_args()
    settings = args.settings.split(",")

    import ray

    with tempfile.TemporaryDirectory() as logs, LlamaServer(Path(logs) / "server.log") as llama:
        proxy = CountingProxy(llama.url)
        with ThreadServer(proxy.app) as server:
            proxy.url = server.url
            ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="agentflow",
                     log_to_driver=False, configure_logging=False)
            try:
                runs = []
                for round_ in range(args.rounds):
                    shift = round_ % len(settings)  # each round starts with another setting
                    for setting in settings[shift:] + settings[:shift]:
                        runs.append(run_once(proxy, setting, args.items, round_))
                        print_table(runs[-1:])
            finally:
                ray.shutdown()
    print()
    print_table(runs)
    result = summary(runs)
    print(json.dumps(result))
    path = write_results("real_model", {"items": args.items, "rounds": args.rounds, "runs": runs, **result})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
