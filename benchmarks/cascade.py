"""A model cascade against strong-only: items escalated, agreement, cost (the service on local Ray).

Two simulators stand in for the models: "cheap" (gpt-4.1-nano, priced as it) answers
wrong on a seeded ~10% of items, with a low confidence, and right with a high one
otherwise (`--model-noise`, its own draw: the engine does not tell it which items);
"strong" (gpt-4.1) is the reference. The same label batch runs as a cascade and
strong-only, both through POST /api/batches; the answers are compared item by item.

    .venv/bin/python benchmarks/cascade.py [--items 5000] [--sample 200] [--target 0.95]

Passes (exit 0) when the strong model answered at most 20% of the items (sample
and escalations), the answers agree with strong-only at or above the target, and
the cascade cost at most 35% of strong-only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, start_service, write_results  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

CATEGORIES = ["positive", "negative", "mixed"]
WORDS = ("great", "slow", "broken", "love", "refund", "fine", "late", "cheap", "sturdy", "support", "again", "never")
CHEAP, STRONG = "cheap/gpt-4.1-nano", "strong/gpt-4.1"


def reviews(count: int) -> list[dict]:
    rng = random.Random(19)
    return [{"content": f"Review {i}: " + " ".join(rng.choices(WORDS, k=12)), "id": f"r{i}"} for i in range(count)]


def run_batch(client: httpx.Client, url: str, body: dict) -> tuple[dict, dict[int, str], float]:
    """(final status, index -> label, seconds) of one batch."""
    started = time.perf_counter()
    batch_id = client.post(f"{url}/api/batches", json=body).raise_for_status().json()["batch_id"]
    while (status := client.get(f"{url}/api/batches/{batch_id}").json())["status"] not in (
            "completed", "failed", "cancelled"):
        time.sleep(1)
    seconds = time.perf_counter() - started
    lines = client.get(f"{url}/api/batches/{batch_id}/output", params={"format": "jsonl"}).text.splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    labels = {r["index"]: (r["result"] or {}).get("label") for r in records if r["status"] == "completed"}
    return status, labels, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--noise", type=float, default=0.10, help="the cheap model's share of wrong answers")
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()

    import ray

    cheap_config = SimulatorConfig(latency_ms=args.latency_ms, logprobs=True, seed=7,
                                   model_noise=f"gpt-4.1-nano={args.noise}")
    with SimulatorProcess.start(cheap_config) as cheap, \
            SimulatorProcess.start(SimulatorConfig(latency_ms=args.latency_ms, logprobs=True)) as strong, \
            tempfile.TemporaryDirectory() as store:
        providers = {name: {"base_url": sim.base_url, "logprobs": True, "dialect": "json_schema"}
                     for name, sim in (("cheap", cheap), ("strong", strong))}
        url = start_service(cheap.base_url, store, free_port(), AGENTFLOW_PROVIDERS=json.dumps(providers))
        items = reviews(args.items)
        base = {"operation": "classify", "categories": CATEGORIES, "items": items}
        cascade_spec = {"models": [CHEAP, STRONG], "target_agreement": args.target, "sample": args.sample}
        with httpx.Client(timeout=120) as client:
            estimate = client.post(f"{url}/api/batches", json={**base, "cascade": cascade_spec,
                                                               "dry_run": True}).json()
            status, cascade_labels, cascade_seconds = run_batch(client, url, {**base, "cascade": cascade_spec})
            cheap_stats = httpx.get(cheap.base_url.removesuffix("/v1") + "/sim/stats").json()
            strong_status, strong_labels, strong_seconds = run_batch(client, url, {**base, "model": STRONG})
        ray.shutdown()

    figures = status["cascade"]
    total = args.items
    agree = sum(cascade_labels.get(i) == label for i, label in strong_labels.items())
    strong_answered = figures["sample_items"] + figures["escalated_items"]
    cheap_calls = cheap_stats["accepted"]
    result = {
        "items": total, "sample": args.sample, "target_agreement": args.target, "cheap_noise": args.noise,
        "threshold": figures["threshold"],
        "cheap_model_agreement": round(1 - cheap_stats["wrong_answers"] / cheap_calls, 4) if cheap_calls else None,
        "escalated_items": figures["escalated_items"],
        "escalated_ratio": round(figures["escalated_items"] / total, 4),
        "strong_answered_ratio": round(strong_answered / total, 4),
        "agreement_with_strong_only": round(agree / len(strong_labels), 4),
        "cascade_cost": figures["cost"], "strong_only_cost_measured": strong_status["estimated_cost"],
        "strong_only_cost_estimated": figures["strong_only_cost"],
        "cost_ratio": round(figures["cost"] / strong_status["estimated_cost"], 4),
        "dry_run_cost_range": estimate["cascade_cost_range"],
        "cascade_seconds": round(cascade_seconds, 1), "strong_only_seconds": round(strong_seconds, 1),
        "completed": [status["completed_items"], strong_status["completed_items"]],
    }
    checks = {
        "strong answered <= 20% of items": result["strong_answered_ratio"] <= 0.20,
        "agreement with strong-only >= target": result["agreement_with_strong_only"] >= args.target,
        "cost <= 35% of strong-only": result["cost_ratio"] <= 0.35,
        "every item completed once": result["completed"] == [total, total] and len(cascade_labels) == total,
    }
    result["checks"] = checks
    print(json.dumps(result, indent=2))
    print("results in", write_results("cascade", result))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
