"""Timelines of a throughput scenario: one panel per runner.

Accepted requests per second (bars) against the provider's limit (dashed
line), 429s stacked in red, and the most requests in flight in each second on
a secondary axis. Reads what throughput.py stores, so it also re-plots a saved
run:  .venv/bin/python benchmarks/plot.py [SCENARIO ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _panel(axis, runner: str, run: dict, limit: float | None) -> None:
    timeline = run["timeline"]
    seconds = [row["second"] for row in timeline]
    accepted = [row["accepted"] for row in timeline]
    limited = [row["rate_limited"] for row in timeline]
    axis.bar(seconds, accepted, width=0.9, color="tab:blue", label="accepted req/s")
    axis.bar(seconds, limited, width=0.9, bottom=accepted, color="tab:red", label="429 req/s")
    if limit:
        axis.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:g} req/s")
    # Headroom above the tallest bar and the limit line, for the legend.
    axis.set_ylim(0, 1.4 * max([limit or 0, *(a + r for a, r in zip(accepted, limited))], default=1))
    low, high = run.get("steady_seconds") or (0, 0)
    axis.axvspan(low - 0.5, high + 0.5, color="tab:green", alpha=0.07, label="steady window")
    axis.set_ylabel("requests / s")
    util = run.get("utilisation")
    axis.set_title(f"{runner}: {run['items_per_s']} items/s end to end, steady {run['steady_items_per_s']}"
                   + (f", {100 * util:.1f}% of limit" if util else "")
                   + f", 429s {100 * run['http_429_per_attempt']:.1f}% of attempts", fontsize=9)
    twin = axis.twinx()
    twin.plot(seconds, [row["in_flight_max"] for row in timeline], color="tab:orange", linewidth=1.2,
              label="in flight (max)")
    twin.set_ylabel("in flight", color="tab:orange")
    handles, labels = axis.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    twin.set_ylim(0, 1.4 * max([row["in_flight_max"] for row in timeline], default=1))
    axis.legend(handles + more, labels + more_labels, fontsize=7, loc="upper left", ncol=5)


def plot_scenario(name: str, result: dict, path: Path) -> Path:
    """Write the scenario's PNG; one panel per runner (engine first)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 3.2 * len(runs)), squeeze=False)
    for axis, (runner, run) in zip(axes[:, 0], runs.items()):
        _panel(axis, runner, run, run.get("limit_requests_per_s"))
    axes[-1, 0].set_xlabel("seconds since the run started")
    sim = {k: v for k, v in result["config"].items() if v and k != "tokens_per_request"}
    fig.suptitle(f"{name} ({result['items']} items): {sim}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str]) -> None:
    scenarios = json.loads((RESULTS / "throughput.json").read_text())["scenarios"]
    for name in argv or scenarios:
        print(plot_scenario(name, scenarios[name], RESULTS / f"throughput-{name}.png"))


if __name__ == "__main__":
    main(sys.argv[1:])
