"""Output with the input's columns at 1M items, against the narrow output, in one process.

    .venv/bin/python benchmarks/output.py [--items 1000000]

Stores a batch of `--items` rows from a CSV-like input (review_id, review,
product, stars) with a completed label/confidence outcome each (one failed in
ten), compacts it, then exports every format twice: narrow (include_input=false,
the baseline) and with the input's columns. For each export it prints seconds,
bytes and the growth of resident memory over the RSS before it (sampled every
10 ms on a thread): a join of stored frames window by window stays bounded,
whatever the batch's size. CPU seconds (this process's, Polars' threads included)
are printed beside: on a shared machine they vary less than the wall clock.
Writes the same to benchmarks/results/output.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_results  # noqa: E402
from engine.batch.output import export  # noqa: E402
from engine.store.batch_store import BatchStore, new_batch_id  # noqa: E402
from loaders import result_fields  # noqa: E402

PAGE = 4096
SCHEMA = {"properties": {"label": {"type": "string", "enum": ["good", "bad"]}, "confidence": {"type": "number"}}}
INPUT_COLUMNS = [{"name": "review_id", "role": "id", "type": "string"},
                 {"name": "review", "role": "content", "type": "string"},
                 {"name": "product", "role": "metadata", "type": "string"},
                 {"name": "stars", "role": "metadata", "type": "string"}]


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


class PeakRss:
    """The highest RSS seen while the block runs, sampled on a thread."""

    def __enter__(self):
        self.before = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def make_batch(store: BatchStore, items: int) -> tuple[str, dict]:
    batch_id = new_batch_id()
    meta = {"status": "completed", "owner": "bench", "input_columns": INPUT_COLUMNS,
            "result_fields": result_fields(SCHEMA, None, True), "result_columns": ["label", "confidence"]}
    chunk = 100_000
    frames = (pl.DataFrame({"content": [f"review {i}: the product was fine" for i in range(s, min(s + chunk, items))],
                            "id": [f"r-{i:07d}" for i in range(s, min(s + chunk, items))],
                            "metadata": [f'{{"product":"p-{i % 50}","stars":"{i % 5 + 1}"}}'
                                         for i in range(s, min(s + chunk, items))]})
              for s in range(0, items, chunk))
    meta["total_items"] = store.create(batch_id, meta, frames)
    for start in range(0, items, chunk):
        index = pl.int_range(start, min(start + chunk, items), eager=True)
        failed = index % 10 == 0
        store.write_results(batch_id, pl.DataFrame({
            "index": index,
            "status": pl.Series(["failed" if f else "completed" for f in failed]),
            "result": pl.Series([None if f else '{"label":"good","confidence":0.9}' for f in failed]),
            "error_type": pl.Series(["output_parse_error" if f else None for f in failed], dtype=pl.String),
            "error_message": pl.Series(["bad json" if f else None for f in failed], dtype=pl.String),
            "attempts": pl.Series([1] * len(index), dtype=pl.Int32)}))
    store.compact(batch_id)
    return batch_id, store.read_meta(batch_id)


def measure(store, batch_id, meta, fmt, include_input) -> dict:
    size = 0
    with PeakRss() as rss:
        started, cpu = time.perf_counter(), time.process_time()
        for piece in export(store, batch_id, meta, fmt, include_input=include_input):
            size += len(piece)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"format": fmt, "include_input": include_input, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2), "bytes": size,
            "rss_growth_mib": round(rss.peak - rss.before, 1), "rss_before_mib": round(rss.before, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        store = BatchStore(root, sync_seconds=None)
        batch_id, meta = make_batch(store, args.items)
        runs = [measure(store, batch_id, meta, fmt, include_input)
                for fmt in ("csv", "jsonl", "parquet") for include_input in (False, True)]
    for run in runs:
        print(f"{run['format']:8} include_input={run['include_input']!s:5}  {run['seconds']:6.2f} s  "
              f"(CPU {run['cpu_seconds']:6.2f} s)  "
              f"{run['bytes'] / 2**20:7.1f} MiB out  RSS +{run['rss_growth_mib']:.0f} MiB "
              f"(from {run['rss_before_mib']:.0f})")
    for fmt in ("csv", "jsonl", "parquet"):
        narrow, wide = (r for r in runs if r["format"] == fmt)
        print(f"{fmt}: with input / narrow: time x{wide['seconds'] / narrow['seconds']:.2f}, "
              f"CPU x{wide['cpu_seconds'] / narrow['cpu_seconds']:.2f}, "
              f"RSS growth {wide['rss_growth_mib']:.0f} vs {narrow['rss_growth_mib']:.0f} MiB")
    write_results("output", {"items": args.items, "runs": runs})


if __name__ == "__main__":
    main()
