"""Batch throughput against the simulator, per binding limit, with baselines in the same run.

    .venv/bin/python benchmarks/throughput.py [--scenario NAME|all] [--items N] [--plot] [--no-ray-data]

Per scenario: a SimulatorProcess with the scenario's limits, a fresh local Ray
with the Serve service, a warm-up batch, then N items through POST /api/batches
(label, 3 categories; N is 2,000, or 10,000 for overhead-bound, whose 2,000
items take about a second, too short for a steady state; --items sets it).
The same N requests then go through Ray Data's HTTP request processor (same
Ray) and a plain asyncio script (after Ray is down).
Each run is scored from its own output and the simulator's counters, which are
reset before it. Prints a table; writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.baselines import (  # noqa: E402
    make_items,
    probe_tokens,
    ray_data_available,
    request_bodies,
    run_asyncio_baseline,
    run_engine,
    run_ray_data_baseline,
    submit_and_wait,
)
from benchmarks.common import (  # noqa: E402
    RESULTS,
    free_port,
    percentile,
    start_service,
    write_results,
)
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

IDLE_SECONDS = 5.0  # metering an idle service first tells its background CPU from the work's
TOKENS_TARGET_RPS = 40  # tokens-bound: tpm is set so that tokens allow this many requests/s


@dataclass(frozen=True)
class Scenario:
    sim: dict  # SimulatorConfig fields
    binding: str | None  # "rpm", "tpm", "latency", or None (overhead-bound: items/s only)
    env: dict = field(default_factory=dict)  # AGENTFLOW_* settings of the service
    items: int = 2000


SCENARIOS = {
    "requests-bound": Scenario({"rpm": 3000, "latency_ms": 200}, "rpm"),
    "tokens-bound": Scenario({"rpm": 100_000, "latency_ms": 200}, "tpm"),  # tpm set from a probe
    "latency-bound": Scenario({"latency_ms": 2000}, "latency"),
    "faults": Scenario({"rpm": 3000, "latency_ms": 200, "error_rate": 0.05, "bad_json_rate": 0.05}, "rpm"),
    "overhead-bound": Scenario({"latency_ms": 50}, None, items=10_000),
}


class TreeMeter:
    """CPU seconds and peak RSS of `root` (default: this process) and its descendants.

    A process's CPU includes its reaped children's (children_user/system), so a
    Ray worker that exits mid-run still counts, through the raylet that reaped it.
    """

    def __init__(self, root: int | None = None, recursive: bool = True, exclude: set[int] = frozenset()):
        import psutil
        import ray  # noqa: F401 - puts Ray's bundled psutil on sys.path

        self._psutil, self._root = psutil, psutil.Process(root)
        self._recursive, self._exclude = recursive, exclude
        self._stop = threading.Event()
        self.peak_rss = 0

    def _processes(self) -> list:
        found = [self._root, *(self._root.children(recursive=True) if self._recursive else [])]
        return [p for p in found if p.pid not in self._exclude]

    def _cpu(self) -> dict[int, tuple[str, float]]:
        out = {}
        for proc in self._processes():
            try:
                t = proc.cpu_times()
                out[proc.pid] = ((proc.cmdline() or [proc.name()])[0][:40], t.user + t.system +
                                 t.children_user + t.children_system)
            except self._psutil.Error:  # exited meanwhile: its parent's children_* has it
                pass
        return out

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            rss = 0
            for proc in self._processes():
                try:
                    rss += proc.memory_info().rss
                except self._psutil.Error:
                    pass
            self.peak_rss = max(self.peak_rss, rss)

    def __enter__(self) -> "TreeMeter":
        self._base = self._cpu()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._final = self._cpu()
        self._stop.set()
        self._thread.join()

    def _delta(self) -> dict[str, float]:
        by_label: dict[str, float] = {}
        for snapshot, sign in ((self._final, 1), (self._base, -1)):
            for label, cpu in snapshot.values():
                by_label[label] = by_label.get(label, 0.0) + sign * cpu
        return by_label

    @property
    def cpu_seconds(self) -> float:
        return sum(self._delta().values())

    def top(self, k: int) -> dict[str, float]:
        """The `k` process kinds that used the most CPU, in seconds."""
        ranked = sorted(self._delta().items(), key=lambda kv: -kv[1])[:k]
        return {label: round(seconds, 2) for label, seconds in ranked}


# ---- scoring -------------------------------------------------------------------------


def steady_state(timeline: list[dict], period: int = 1) -> dict:
    """Means over the middle 60% of the seconds in which requests were accepted,
    in whole `period`s of seconds.

    A runner whose calls take L seconds may send in waves L seconds apart (all
    of its in-flight calls end, and are replaced, together): a window of 2 s
    waves that is 7 s long holds 3 or 4 waves, and reads 14% low or high.
    """
    busy = [row["second"] for row in timeline if row["accepted"]]
    if not busy:
        return {"accepted_per_s": 0.0, "in_flight": 0, "seconds": [0, 0]}
    first, last = busy[0], busy[-1]
    cut = int(0.2 * (last - first + 1))
    start, end = first + cut, last - cut
    end = start - 1 + max(period, (end - start + 1) // period * period)
    window = [row for row in timeline if start <= row["second"] <= end]
    return {"accepted_per_s": statistics.mean(r["accepted"] for r in window),
            "in_flight": statistics.median(r["in_flight_max"] for r in window),
            "seconds": [start, end]}


def binding_limit(scenario: Scenario, config: dict, stats: dict) -> float | None:
    """The binding limit in requests/s."""
    if scenario.binding == "rpm":
        return config["rpm"] / 60
    if scenario.binding == "tpm":
        answered = max(1, stats["accepted"] - stats["server_errors"])
        return config["tpm"] / 60 / ((stats["prompt_tokens"] + stats["completion_tokens"]) / answered)
    if scenario.binding == "latency":
        # The most the runner kept in flight (its cap, once reached), each call taking latency_ms.
        # Not the steady median: the simulator samples in-flight only when a call enters or
        # leaves, so a second in which every call is sleeping reads 0.
        return stats["max_in_flight"] / (config["latency_ms"] / 1000)
    return None


def item_checks(records: list[dict], n: int) -> dict:
    indexes = [r["index"] for r in records]
    unique = set(indexes)
    failed = [r for r in records if r["status"] == "failed"]
    unexplained = [r for r in records if r["status"] not in ("completed", "failed") or
                   (r["status"] == "failed" and not r.get("error"))]
    return {"lost": len(set(range(n)) - unique), "duplicated": len(indexes) - len(unique),
            "failed": len(failed), "unexplained": len(unexplained),
            "failed_by_error": dict(Counter(_error_kind(r.get("error")) for r in failed))}


def _error_kind(error) -> str:
    """The engine's error is {type, message}; a baseline's, a short string."""
    return str(error.get("type")) if isinstance(error, dict) else str(error)


def score(run: dict, stats: dict, meter: TreeMeter, sim_cpu: float, scenario: Scenario, config: dict,
          n: int, idle_per_s: float) -> dict:
    steady = steady_state(stats["timeline"], max(1, math.ceil(config.get("latency_ms", 0) / 1000)))
    limit = binding_limit(scenario, config, stats)
    latencies = [r["latency_ms"] for r in run["records"] if r.get("latency_ms") is not None]
    per_item = n / max(1, stats["accepted"])  # requests per item > 1 when calls are repeated
    return {
        "items_per_s": round(n / run["elapsed_s"], 1),
        "steady_items_per_s": round(steady["accepted_per_s"] * per_item, 1),
        "steady_requests_per_s": round(steady["accepted_per_s"], 2),
        "limit_requests_per_s": None if limit is None else round(limit, 2),
        "utilisation": None if not limit else round(steady["accepted_per_s"] / limit, 4),
        "in_flight_sustained": steady["in_flight"],
        "steady_seconds": steady["seconds"],
        "http_429_per_attempt": round(stats["rate_limited"] / max(1, stats["requests"]), 4),
        **item_checks(run["records"], n),
        "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
        "cpu_s_per_1k": round(meter.cpu_seconds / n * 1000, 2),
        "cpu_s_per_1k_net_of_idle": round((meter.cpu_seconds - idle_per_s * run["elapsed_s"]) / n * 1000, 2),
        "sim_cpu_s_per_1k": round(sim_cpu / n * 1000, 2),
        "peak_rss_mib": round(meter.peak_rss / 2**20),
        "elapsed_s": round(run["elapsed_s"], 2),
        "cpu_by_process": meter.top(6),
        "sim": {k: v for k, v in stats.items() if k != "timeline"},
        "timeline": stats["timeline"],
        **{k: run[k] for k in ("settings", "batch_status", "error") if k in run},
    }


def measured(sim: SimulatorProcess, run_fn, scenario: Scenario, config: dict, n: int,
             idle_per_s: float = 0.0) -> dict:
    """Run `run_fn` against freshly reset simulator counters, metering CPU and memory."""
    sim.reset()
    sim_meter = TreeMeter(root=sim.pid, recursive=False)
    with TreeMeter(exclude={sim.pid}) as meter, sim_meter:
        run = run_fn()
    return score(run, sim.stats(), meter, sim_meter.cpu_seconds, scenario, config, n, idle_per_s)


# ---- one scenario ----------------------------------------------------------------------


def run_scenario(name: str, n: int, with_ray_data: bool) -> dict:
    """Every runner of one scenario against one simulator; the engine's figures first."""
    scenario, items = SCENARIOS[name], make_items(n)
    bodies = request_bodies(items)
    with SimulatorProcess.start(SimulatorConfig(**scenario.sim)) as sim, tempfile.TemporaryDirectory() as store:
        config = dict(scenario.sim, tokens_per_request=probe_tokens(sim.base_url, bodies[:20]))
        if scenario.binding == "tpm":
            config["tpm"] = round(config["tokens_per_request"] * TOKENS_TARGET_RPS * 60)
            sim.configure(tpm=config["tpm"])
        runs = _service_runs(sim, store, scenario, config, items, bodies, with_ray_data)
        rpm = _provider_rps(config) and _provider_rps(config) * 60
        runs["asyncio"] = measured(sim, lambda: run_asyncio_baseline(sim.base_url, bodies, rpm), scenario, config, n)
    return {"config": config, "items": n, "runs": runs}


def _service_runs(sim, store: str, scenario: Scenario, config: dict, items: list[dict], bodies: list[dict],
                  with_ray_data: bool) -> dict:
    """The engine, then Ray Data, in a fresh local Ray that is stopped after."""
    import ray
    from ray import serve

    n, rps = len(items), _provider_rps(config)
    ray.init(address="local", namespace="agentflow", include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        url = start_service(sim.base_url, store, free_port(), **scenario.env)
        idle = _warm_up(url, sim, items, config)
        runs = {"engine": measured(sim, lambda: run_engine(url, store, items), scenario, config, n, idle)}
        if with_ray_data:  # in the same Ray, beside the idle service: the same idle CPU
            runs["ray_data"] = measured(sim, lambda: run_ray_data_baseline(sim.base_url, bodies, rps),
                                        scenario, config, n, idle)
        return runs
    finally:
        serve.shutdown()
        ray.shutdown()


def _warm_up(url: str, sim: SimulatorProcess, items: list[dict], config: dict) -> float:
    """A first small batch starts the actors and connections and teaches the limiter the limits,
    as in a live service; then the idle service's CPU per second is metered (returned)."""
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        submit_and_wait(client, url, items[:64])
    config["warm_up_s"] = round(time.perf_counter() - started, 2)
    with TreeMeter(exclude={sim.pid}) as idle:  # Ray and Serve's own background work
        time.sleep(IDLE_SECONDS)
    config["idle_cpu_per_s"] = round(idle.cpu_seconds / IDLE_SECONDS, 3)
    return config["idle_cpu_per_s"]


def _provider_rps(config: dict) -> float | None:
    """The request rate the provider allows, as a careful script author would work it out."""
    rates = [config["rpm"] / 60] if config.get("rpm") else []
    if config.get("tpm"):
        rates.append(config["tpm"] / 60 / config["tokens_per_request"])
    return min(rates) if rates else None


# ---- output ----------------------------------------------------------------------------

COLUMNS = [("items/s", "items_per_s"), ("steady", "steady_items_per_s"), ("limit r/s", "limit_requests_per_s"),
           ("util", "utilisation"), ("429/att", "http_429_per_attempt"), ("lost", "lost"), ("dup", "duplicated"),
           ("failed", "failed"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("CPU s/1k", "cpu_s_per_1k"),
           ("net s/1k", "cpu_s_per_1k_net_of_idle"),
           ("sim s/1k", "sim_cpu_s_per_1k"), ("RSS MiB", "peak_rss_mib")]


def print_table(results: dict) -> None:
    print(f"{'scenario':<16}{'runner':<10}" + "".join(f"{title:>10}" for title, _ in COLUMNS))
    for name, result in results.items():
        for runner, row in result["runs"].items():
            cells = []
            for _, key in COLUMNS:
                value = row.get(key)
                if key in ("utilisation", "http_429_per_attempt") and value is not None:
                    value = f"{100 * value:.1f}%"
                cells.append(f"{'-' if value is None else value:>10}")
            print(f"{name:<16}{runner:<10}" + "".join(cells))


def save(results: dict) -> Path:
    """Merge into throughput.json: a run of one scenario keeps the others' last figures."""
    path = RESULTS / "throughput.json"
    scenarios = json.loads(path.read_text()).get("scenarios", {}) if path.exists() else {}
    return write_results("throughput", {"scenarios": {**scenarios, **results}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    parser.add_argument("--items", type=int, help="items per run (default: the scenario's, 2000 or 10000)")
    parser.add_argument("--plot", action="store_true", help="write results/throughput-<scenario>.png")
    parser.add_argument("--no-ray-data", action="store_true", help="skip the Ray Data baseline")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    skip_ray_data = "--no-ray-data given" if args.no_ray_data else ray_data_available()
    if skip_ray_data:
        print(f"Ray Data baseline skipped: {skip_ray_data}")
    results = {}
    for name in names:
        results[name] = run_scenario(name, args.items or SCENARIOS[name].items, not skip_ray_data)
        path = save({name: results[name]})  # after each scenario: a later failure keeps it
        if args.plot:
            from benchmarks.plot import plot_scenario

            print(f"wrote {plot_scenario(name, results[name], RESULTS / f'throughput-{name}.png')}")
    print_table(results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
