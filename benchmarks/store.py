"""BatchStore against a plain Parquet write of the same outcomes, in one process.

    .venv/bin/python benchmarks/store.py [--items 1000000] [--part-rows 1000]

Phases: the baseline `DataFrame.write_parquet` of all outcomes; then the
store: create a batch of the input items, write the outcomes in parts as the
coordinator does (one `write_results` per flush; `--part-rows` per flush,
1,000 by default, about what a flush holds at 2,000 items/s), compact, read
every record back, export CSV and JSONL. The write is timed three ways: the
default store (fsync at most once a second), the coordinator's way (fsync
after every write) and without fsync. Prints seconds per phase,
store-write / plain-write and peak RSS; writes the same to
benchmarks/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store import BatchStore, new_batch_id  # noqa: E402
from loaders.export import iter_csv, iter_jsonl_frames  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
SWEEP_ROWS = (5_000, 20_000)


def synthetic_items(n: int) -> pl.DataFrame:
    i = pl.int_range(0, n).cast(pl.String)
    return pl.select(
        content=pl.concat_str(pl.lit("customer review number "), i, pl.lit(": delivery was slow")),
        id=pl.concat_str(pl.lit("row-"), i),
        metadata=pl.repeat('{"source":"bench"}', n),
    )


def synthetic_outcomes(n: int) -> pl.DataFrame:
    """Label results as JSON text; 2% failed."""
    frame = pl.DataFrame({"index": pl.int_range(0, n, eager=True, dtype=pl.Int64)})
    failed = pl.col("index") % 50 == 7
    label = pl.lit(["positive", "negative", "mixed"]).list.get(pl.col("index") % 3)
    confidence = ((pl.col("index") * 7919 % 100) / 100).cast(pl.String)
    return frame.with_columns(
        status=pl.when(failed).then(pl.lit("failed")).otherwise(pl.lit("completed")),
        result=pl.when(failed).then(None).otherwise(
            pl.concat_str(pl.lit('{"label":"'), label, pl.lit('","confidence":'), confidence, pl.lit("}"))),
        error_type=pl.when(failed).then(pl.lit("provider_timeout")),
        error_message=pl.when(failed).then(pl.lit("no answer within 60 s")),
        attempts=pl.when(failed).then(5).otherwise(1).cast(pl.Int32),
        prompt_tokens=(120 + pl.col("index") % 40).cast(pl.Int64),
        completion_tokens=pl.lit(12, pl.Int64),
        latency_ms=(300.0 + pl.col("index") % 500).cast(pl.Float64),
        cached=pl.col("index") % 10 == 0,
    )


def export(store: BatchStore, batch_id: str, fmt: str, path: Path) -> int:
    """The batch's output as the service streams it: JSONL from frames, CSV from records."""
    if fmt == "jsonl":
        pieces = iter_jsonl_frames(store.iter_result_frames(batch_id))
    else:
        pieces = iter_csv(r for chunk in store.iter_results(batch_id) for r in chunk)
    with open(path, "wb") as out:
        for piece in pieces:
            out.write(piece)
    return path.stat().st_size


def timed(phases: dict, name: str, fn):
    start = time.perf_counter()
    value = fn()
    phases[name] = round(time.perf_counter() - start, 3)
    return value


def write_parts(store: BatchStore, batch_id: str, parts: list[pl.DataFrame], sync_each: bool = False) -> None:
    for part in parts:
        store.write_results(batch_id, part)
        if sync_each:
            store.sync(batch_id)
    store.close(batch_id)


def write_phases(n: int, part_rows: int, workdir: Path, phases: dict) -> tuple[BatchStore, str]:
    """Baseline and store writes; returns the store and its batch (results written, fsynced)."""
    inputs, outcomes = timed(phases, "build synthetic frames", lambda: (synthetic_items(n), synthetic_outcomes(n)))
    timed(phases, "plain write_parquet (first call)", lambda: outcomes.write_parquet(workdir / "plain.parquet"))
    timed(phases, "plain write_parquet (second call)", lambda: outcomes.write_parquet(workdir / "plain2.parquet"))
    store, batch_id = BatchStore(workdir / "store"), new_batch_id()
    timed(phases, "store: create (input)", lambda: store.create(batch_id, {"created_at": time.time()}, [inputs]))
    parts = [outcomes.slice(start, part_rows) for start in range(0, n, part_rows)]
    timed(phases, "store: write_results (default: fsync each second)", lambda: write_parts(store, batch_id, parts))
    for name, sync_seconds, sync_each in (("fsync each write, as the coordinator", 1.0, True),
                                          ("sync_seconds=None", None, False)):
        other_store, other = BatchStore(workdir / "store", sync_seconds=sync_seconds), new_batch_id()
        other_store.create(other, {}, [])
        timed(phases, f"store: write_results ({name})", lambda: write_parts(other_store, other, parts, sync_each))
        other_store.delete(other)
    for rows in SWEEP_ROWS:  # larger flushes, as at higher throughput: the fixed cost per write fades
        other_store, other = BatchStore(workdir / "store"), new_batch_id()
        other_store.create(other, {}, [])
        pieces = [outcomes.slice(start, rows) for start in range(0, n, rows)]
        timed(phases, f"store: write_results in writes of {rows:,} rows", lambda: write_parts(other_store, other, pieces))
        other_store.delete(other)
    return store, batch_id


def read_phases(store: BatchStore, batch_id: str, workdir: Path, phases: dict) -> dict:
    timed(phases, "store: done_indexes (before compact)", lambda: store.done_indexes(batch_id))
    timed(phases, "store: compact", lambda: store.compact(batch_id))
    counts = timed(phases, "store: counts", lambda: store.counts(batch_id))
    seen = timed(phases, "store: iter_results (all)", lambda: sum(len(c) for c in store.iter_results(batch_id)))
    sizes = {fmt: timed(phases, f"export {fmt}", lambda: export(store, batch_id, fmt, workdir / f"out.{fmt}"))
             for fmt in ("csv", "jsonl")}
    return {"counts": counts, "records_read": seen, "export_bytes": sizes}


def run(n: int, part_rows: int, workdir: Path) -> dict:
    phases: dict[str, float] = {}
    store, batch_id = write_phases(n, part_rows, workdir, phases)
    read = read_phases(store, batch_id, workdir, phases)
    assert read["records_read"] == n and read["counts"]["completed"] + read["counts"]["failed"] == n, read
    first, second = phases["plain write_parquet (first call)"], phases["plain write_parquet (second call)"]
    synced = phases["store: write_results (default: fsync each second)"]
    each = phases["store: write_results (fsync each write, as the coordinator)"]
    unsynced = phases["store: write_results (sync_seconds=None)"]
    return {
        "items": n, "part_rows": part_rows, "phases_seconds": phases,
        "ratios_to_plain_write_first_call": {
            "write": round(synced / first, 2), "write_fsync_each": round(each / first, 2),
            "write_no_fsync": round(unsynced / first, 2),
            "write_and_compact": round((synced + phases["store: compact"]) / first, 2),
            **{f"write_in_writes_of_{rows}_rows": round(phases[f"store: write_results in writes of {rows:,} rows"]
                                                        / first, 2) for rows in SWEEP_ROWS}},
        "ratios_to_plain_write_second_call": {
            "write": round(synced / second, 2), "write_fsync_each": round(each / second, 2),
            "write_no_fsync": round(unsynced / second, 2)},
        "ms_per_part": {"default": round(1000 * synced / (n / part_rows), 3),
                        "fsync_each": round(1000 * each / (n / part_rows), 3),
                        "no_fsync": round(1000 * unsynced / (n / part_rows), 3)},
        "peak_rss_mib": (peak := round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)),
        "targets_met": {"store_write_at_most_2x_plain": synced <= 2 * first, "peak_rss_at_most_1_gib": peak <= 1024},
        **read, "python": platform.python_version(), "polars": pl.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentflow-store-bench-") as workdir:
        report = run(args.items, args.part_rows, Path(workdir))
    width = max(map(len, report["phases_seconds"]))
    for name, seconds in report["phases_seconds"].items():
        print(f"{name:<{width}}  {seconds:8.3f} s")
    for baseline in ("first_call", "second_call"):
        for name, ratio in report[f"ratios_to_plain_write_{baseline}"].items():
            print(f"{name + ' / plain write (' + baseline.replace('_', ' ') + ')':<{width}}  {ratio:8.2f} x")
    print(f"{'ms per write (default / fsync each / none)':<{width}}  "
          + " / ".join(f"{ms:.3f}" for ms in report["ms_per_part"].values()))
    print(f"{'peak RSS':<{width}}  {report['peak_rss_mib']:8.1f} MiB")
    print("targets met:", ", ".join(f"{name}={met}" for name, met in report["targets_met"].items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
