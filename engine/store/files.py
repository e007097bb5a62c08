"""The store's files: atomic writes, input parts, results files read as frames, locks.

engine.store.batch_store lays these files out and decides when each is written.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

import polars as pl
import pyarrow.parquet as pq

from engine.errors import NotFound
from engine.store.outcome_rows import OUTCOME_SCHEMA, conform
from engine.store.results_log import read_log
from loaders import rechunk

INPUT_SCHEMA = {"content": pl.String, "id": pl.String, "metadata": pl.String}
INPUT_PART_ROWS = 100_000
ROW_GROUP_ROWS = 10_000  # small row groups let a filter on `index` skip most of a file
LOG_SUFFIX = ".aflog"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


# ---- results files --------------------------------------------------------------


def scan_results(path: Path) -> pl.LazyFrame:
    """A results file (a log, or a Parquet part) as a frame of OUTCOME_SCHEMA."""
    if path.suffix == LOG_SUFFIX:
        return read_log(path, OUTCOME_SCHEMA).lazy()
    return pl.scan_parquet(path)


class SpanCache:
    """The index range of each results file, read again only when the file has changed.

    Parts never change and logs only grow, so a file's size and mtime tell
    whether its range may have: a page of output then reads the one or two
    files that hold it, not every file of the batch (0.25 s at 1M results).
    """

    MAX_FILES = 10_000  # then it starts over: entries of files compacted away by other processes

    def __init__(self):
        self._known: dict[Path, tuple[tuple[int, int], int | None, int | None]] = {}

    def spans(self, files: list[Path]) -> list[tuple[Path, int, int]]:
        """(file, first index, last index) of each non-empty results file, in write order.

        FileNotFoundError if one was compacted away meanwhile: the caller lists them again.
        """
        if len(self._known) > self.MAX_FILES:
            self._known.clear()
        spans = []
        for path in files:
            stat = path.stat()  # before the read: a log that grows meanwhile is read again next time
            version = (stat.st_size, stat.st_mtime_ns)
            known = self._known.get(path)
            if known is None or known[0] != version:
                first, last = scan_results(path).select(pl.min("index"), pl.max("index").alias("last")).collect().row(0)
                known = self._known[path] = (version, first, last)
            if known[1] is not None:
                spans.append((path, known[1], known[2]))
        return spans

    def forget(self, files: list[Path]) -> None:
        for path in files:
            self._known.pop(path, None)


def write_outcome_parquet(file, frames: Iterable[pl.DataFrame]) -> None:
    """Frames in OUTCOME_SCHEMA into one Parquet file, one at a time."""
    schema = pl.DataFrame(schema=OUTCOME_SCHEMA).to_arrow(compat_level=pl.CompatLevel.oldest()).schema
    with pq.ParquetWriter(file, schema, compression="zstd") as writer:
        for frame in frames:
            writer.write_table(frame.to_arrow(compat_level=pl.CompatLevel.oldest()), row_group_size=ROW_GROUP_ROWS)


# ---- writes -----------------------------------------------------------------


def write_atomic(path: Path, write: Callable) -> None:
    """Write through `write(file)` to a temp file beside `path`, fsync, rename into place."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(obj, ensure_ascii=False).encode()))


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    """A large file (an input part): polars encodes in parallel and compactly."""
    write_atomic(path, lambda f: frame.write_parquet(f, row_group_size=ROW_GROUP_ROWS))


def write_input(directory: Path, items: Iterable[pl.DataFrame]) -> int:
    """Write the input parts; each is encoded on a second thread while the next is read.

    Reading (a file parsed by the loaders) and encoding take about as long as
    each other: overlapping them saves ~15% of an upload. At most one part is
    being written while the next is built, so memory stays at two parts.
    """
    directory.mkdir()
    total = 0
    writing = None
    with ThreadPoolExecutor(1, thread_name_prefix="input-writer") as writer:
        for number, frame in enumerate(rechunk((conform(frame, INPUT_SCHEMA) for frame in items), INPUT_PART_ROWS)):
            frame = frame.with_columns(index=pl.int_range(total, total + frame.height, dtype=pl.Int64))
            if writing is not None:
                writing.result()
            writing = writer.submit(write_parquet, directory / f"part-{number:05d}.parquet", frame)
            total += frame.height
        if writing is not None:
            writing.result()
    return total


# ---- locks ------------------------------------------------------------------


@contextmanager
def file_lock(path: Path, batch_id: str):
    try:
        handle = open(path, "a")
    except FileNotFoundError:  # the batch directory is gone
        raise NotFound(f"no batch {batch_id}", field="batch_id") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # a filesystem without locks: the thread lock still holds
            pass
        yield


def thread_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())
