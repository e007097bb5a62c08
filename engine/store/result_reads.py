"""How a batch's results files are named and ordered, and read back window by window.

Every read keeps one record per index (engine.store.outcome_rows.winners): the
first `completed` record of an index wins; if it has none, its first record.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

import polars as pl

from engine.store.files import SpanCache, scan_results
from engine.store.outcome_rows import winners

RESULT_FILE = re.compile(r"(?:part-(\d+)-([A-Za-z0-9_-]+)\.parquet|log-(\d+)-([A-Za-z0-9_-]+)\.aflog)")


def winning_records(files: list[Path], where: pl.Expr | None = None) -> pl.LazyFrame:
    """One record per index by the module's rule, sorted by index."""
    return winners([scan_results(path) for path in files], where)


def ordered_result_files(results: Path, names: Iterable[str]) -> list[Path]:
    """The results logs and parts among `names` in write order (by seq, then writer)."""
    named = filter(None, map(RESULT_FILE.fullmatch, names))
    return [results / name for _, _, name in sorted(map(_order, named))]


def seq_of(path: Path) -> int:
    """The seq in a results file's name."""
    return _order(RESULT_FILE.fullmatch(path.name))[0]


def result_windows(list_files: Callable[[], list[Path]], span_cache: SpanCache, batch_id: str,
                   low: int, high: int, rows: int, spans: list | None = None) -> Iterator[pl.DataFrame]:
    """Winning records with index in [low, high), sorted, one frame per `rows` indexes.

    A window reads only the files whose index range meets it: the coordinator
    writes in roughly index order, so one or two.
    """
    for start in range(low, high, rows):
        end = min(start + rows, high)
        for _ in range(3):
            try:
                spans = spans or span_cache.spans(list_files())
                files = [path for path, first, last in spans if first < end and last >= start]
                frame = winning_records(files, pl.col("index").is_between(start, end, closed="left")).collect()
                break
            except FileNotFoundError:  # a compaction removed the parts listed: list again
                spans = None
        else:
            raise RuntimeError(f"the results of {batch_id} kept changing while being read")
        yield frame


def joined_windows(inputs: list[Path], windows: Iterator[pl.DataFrame], start: int, end: int, chunk_rows: int,
                   input_columns: tuple[str, ...], columns: tuple[str, ...]) -> Iterator[pl.DataFrame]:
    """Input rows [start, end) joined with their winning results (`windows`), `chunk_rows` at a time."""
    scan = pl.scan_parquet(inputs) if end > start else None
    for low, results in zip(range(start, end, chunk_rows), windows):
        window = pl.col("index").is_between(low, min(low + chunk_rows, end), closed="left")
        rows = scan.filter(window).select(input_columns).collect()
        frame = rows.join(results, on="index", how="left", maintain_order="left").with_columns(
            pl.col("status").fill_null("pending"), pl.col("attempts").fill_null(0),
            pl.col("cached").fill_null(False))
        yield frame.select(columns)


def _order(match: re.Match) -> tuple[int, str, str]:
    """(seq, writer, file name) of a results file name matched by RESULT_FILE."""
    seq, writer = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return int(seq), writer, match.group(0)
