"""BatchStore against a plain Parquet write of the same outcomes, in one process.

    .venv/bin/python benchmarks/store.py [--items 1000000] [--part-rows 1000] [--repeat 3]

Phases: the baseline `DataFrame.write_parquet` of all outcomes; then the
store: create a batch of the input items, write the outcomes in parts as the
coordinator does (one `write_results` per flush; `--part-rows` per flush,
1,000 by default, about what a flush holds at 2,000 items/s), read a page of
100 from the logs, compact, read every record back, export CSV and JSONL. The
floors: the logs' encoding (lz4 Arrow IPC) of the same outcomes in memory,
whole and in the same slices, and Parquet in those slices. The
write is timed three ways: the default store (fsync at most once a second),
the coordinator's way (fsync after every write) and without fsync; then in
larger writes. The plain write and each store write are timed `--repeat`
times, into a new batch each, and their medians compared. Prints seconds per
phase, store-write / plain-write and peak RSS; writes the same to
benchmarks/results/store.json.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store.batch_store import BatchStore, new_batch_id  # noqa: E402
from loaders.export import iter_csv_frames, iter_jsonl_frames  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
SWEEP_ROWS = (5_000, 20_000, 100_000)
FLOOR_WHOLE = "floor: lz4 IPC of the whole frame in memory, one call"
FLOOR_PARTS = "floor: lz4 IPC in memory, {rows:,}-row slices"
FLOOR_PARQUET = "floor: Parquet in memory, {rows:,}-row slices"


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
    """The batch's output as the service streams it: both from the stored frames."""
    frames = store.iter_result_frames(batch_id)
    pieces = iter_jsonl_frames(frames) if fmt == "jsonl" else iter_csv_frames(frames)
    with open(path, "wb") as out:
        for piece in pieces:
            out.write(piece)
    return path.stat().st_size


def timed(phases: dict, name: str, fn):
    start = time.perf_counter()
    value = fn()
    phases[name] = round(time.perf_counter() - start, 3)
    return value


def seconds_of(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def record(phases: dict, runs: dict, name: str, seconds: list[float]) -> None:
    """The median of `seconds` goes to phases[name], every run to runs[name]."""
    phases[name] = round(statistics.median(seconds), 3)
    runs[name] = [round(value, 3) for value in seconds]


def write_parts(store: BatchStore, batch_id: str, parts: list[pl.DataFrame], sync_each: bool = False) -> None:
    for part in parts:
        store.write_results(batch_id, part)
        if sync_each:
            store.sync(batch_id)
    store.close(batch_id)


def write_to_new_batch(store: BatchStore, parts: list[pl.DataFrame], sync_each: bool = False) -> float:
    """Write `parts` to a new empty batch, then delete it (its creation is not timed)."""
    batch_id = new_batch_id()
    store.create(batch_id, {}, [])
    elapsed = seconds_of(lambda: write_parts(store, batch_id, parts, sync_each))
    store.delete(batch_id)
    return elapsed


def serializer_floors(outcomes: pl.DataFrame, part_rows: int, repeat: int, phases: dict, runs: dict) -> None:
    """The logs' own encoding, with no store around it: what any store writing this format costs at least.

    Polars' lz4 Arrow IPC, into memory: of the whole frame in one call, and of
    the same `part_rows` slices the store is given. Parquet in those slices too,
    the other format Polars writes, for comparison.
    """
    parts = [outcomes.slice(start, part_rows) for start in range(0, outcomes.height, part_rows)]

    def each_part(encode) -> float:
        return seconds_of(lambda: [encode(part, io.BytesIO()) for part in parts])

    def ipc(frame: pl.DataFrame, sink) -> None:
        frame.write_ipc_stream(sink, compression="lz4")

    def parquet(frame: pl.DataFrame, sink) -> None:
        frame.write_parquet(sink, statistics=False)

    record(phases, runs, FLOOR_WHOLE,
           [seconds_of(lambda: ipc(outcomes, io.BytesIO())) for _ in range(repeat)])
    record(phases, runs, FLOOR_PARTS.format(rows=part_rows),
           [each_part(ipc) for _ in range(repeat)])
    record(phases, runs, FLOOR_PARQUET.format(rows=part_rows),
           [each_part(parquet) for _ in range(repeat)])


def write_phases(n: int, part_rows: int, repeat: int, workdir: Path, phases: dict, runs: dict):
    """Baseline and store writes (medians of `repeat` runs); returns the store and a batch with every result."""
    inputs, outcomes = timed(phases, "build synthetic frames", lambda: (synthetic_items(n), synthetic_outcomes(n)))
    record(phases, runs, "plain write_parquet",
           [seconds_of(lambda: outcomes.write_parquet(workdir / "plain.parquet")) for _ in range(repeat)])
    serializer_floors(outcomes, part_rows, repeat, phases, runs)
    store, batch_id = BatchStore(workdir / "store"), new_batch_id()
    timed(phases, "store: create (input)", lambda: store.create(batch_id, {"created_at": time.time()}, [inputs]))
    parts = [outcomes.slice(start, part_rows) for start in range(0, n, part_rows)]
    timed(phases, "store: write_results, kept for the reads", lambda: write_parts(store, batch_id, parts))
    for name, sync_seconds, sync_each in (("default: fsync each second", 1.0, False),
                                          ("fsync each write, as the coordinator", 1.0, True),
                                          ("sync_seconds=None", None, False)):
        other = BatchStore(workdir / "store", sync_seconds=sync_seconds)
        record(phases, runs, f"store: write_results ({name})",
               [write_to_new_batch(other, parts, sync_each) for _ in range(repeat)])
    for rows in SWEEP_ROWS:  # larger flushes, as at higher throughput: the fixed cost per write fades
        pieces = [outcomes.slice(start, rows) for start in range(0, n, rows)]
        record(phases, runs, f"store: write_results in writes of {rows:,} rows",
               [write_to_new_batch(BatchStore(workdir / "store"), pieces) for _ in range(repeat)])
    return store, batch_id


def read_phases(store: BatchStore, batch_id: str, workdir: Path, phases: dict) -> dict:
    middle = store.read_meta(batch_id)["total_items"] // 2
    for when in ("first", "again"):  # a page of output while a batch runs: from the logs, before compact
        timed(phases, f"store: a page of 100 at the middle, {when} (before compact)",
              lambda: list(store.iter_results(batch_id, offset=middle, limit=100)))
    timed(phases, "store: done_indexes (before compact)", lambda: store.done_indexes(batch_id))
    timed(phases, "store: compact", lambda: store.compact(batch_id))
    counts = timed(phases, "store: counts", lambda: store.counts(batch_id))
    seen = timed(phases, "store: iter_results (all)", lambda: sum(len(c) for c in store.iter_results(batch_id)))
    sizes = {fmt: timed(phases, f"export {fmt}", lambda: export(store, batch_id, fmt, workdir / f"out.{fmt}"))
             for fmt in ("csv", "jsonl")}
    return {"counts": counts, "records_read": seen, "export_bytes": sizes}


def run(n: int, part_rows: int, repeat: int, workdir: Path) -> dict:
    phases: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    store, batch_id = write_phases(n, part_rows, repeat, workdir, phases, runs)
    read = read_phases(store, batch_id, workdir, phases)
    assert read["records_read"] == n and read["counts"]["completed"] + read["counts"]["failed"] == n, read
    plain = phases["plain write_parquet"]
    synced = phases["store: write_results (default: fsync each second)"]
    each = phases["store: write_results (fsync each write, as the coordinator)"]
    unsynced = phases["store: write_results (sync_seconds=None)"]
    ratios = {"write": synced / plain, "write_fsync_each": each / plain, "write_no_fsync": unsynced / plain,
              "floor_ipc_whole_frame": phases[FLOOR_WHOLE] / plain,
              "floor_ipc_in_parts": phases[FLOOR_PARTS.format(rows=part_rows)] / plain,
              "floor_parquet_in_parts": phases[FLOOR_PARQUET.format(rows=part_rows)] / plain,
              "write_and_compact": (synced + phases["store: compact"]) / plain,
              **{f"write_in_writes_of_{rows}_rows": phases[f"store: write_results in writes of {rows:,} rows"] / plain
                 for rows in SWEEP_ROWS}}
    return {
        "items": n, "part_rows": part_rows, "repeat": repeat, "phases_seconds": phases, "runs_seconds": runs,
        "ratios_to_plain_write": {name: round(ratio, 2) for name, ratio in ratios.items()},
        "ms_per_write": {"default": round(1000 * synced / (n / part_rows), 3),
                         "fsync_each": round(1000 * each / (n / part_rows), 3),
                         "no_fsync": round(1000 * unsynced / (n / part_rows), 3)},
        "peak_rss_mib": (peak := round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)),
        "targets_met": {"store_write_at_most_2x_plain": synced <= 2 * plain, "peak_rss_at_most_1_gib": peak <= 1024},
        **read, "python": platform.python_version(), "polars": pl.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentflow-store-bench-") as workdir:
        report = run(args.items, args.part_rows, args.repeat, Path(workdir))
    width = max(map(len, report["phases_seconds"]))
    for name, seconds in report["phases_seconds"].items():
        print(f"{name:<{width}}  {seconds:8.3f} s")
    for name, ratio in report["ratios_to_plain_write"].items():
        print(f"{name + ' / plain write':<{width}}  {ratio:8.2f} x")
    print(f"{'ms per write (default / fsync each / none)':<{width}}  "
          + " / ".join(f"{ms:.3f}" for ms in report["ms_per_write"].values()))
    for name, seconds in report["runs_seconds"].items():
        print(f"runs of {name}: {', '.join(f'{value:.3f}' for value in seconds)}")
    print(f"{'peak RSS':<{width}}  {report['peak_rss_mib']:8.1f} MiB")
    print("targets met:", ", ".join(f"{name}={met}" for name, met in report["targets_met"].items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
