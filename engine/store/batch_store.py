"""`BatchStore`: the durable state of async batches, one directory per batch.

    <root>/batches/<batch_id>/meta.json                           status, counters, params
    <root>/batches/<batch_id>/input/part-00000.parquet            content, id, metadata, index
    <root>/batches/<batch_id>/results/log-<seq>-<writer>.aflog    outcomes as they arrive
    <root>/batches/<batch_id>/results/part-<seq>-compact.parquet  outcomes once compacted

Meta and Parquet files are written under a temporary name, fsynced and renamed
into place, and a batch is built in a temporary directory renamed at the end: a
reader, or a process restarted after a crash, sees them whole or not at all.

Outcomes are appended to a log (engine.store.results_log: one lz4 Arrow IPC record
per write): a write costs one `write(2)` instead of a new Parquet file, about
0.2 ms for a thousand outcomes against 1 ms. A log is only ever appended to by
the process that created it; a reader stops at a torn or damaged last record,
so it sees whole writes only. A log is fsynced at most every `sync_seconds`
(and when it is closed): a process crash loses nothing, losing the machine
loses at most the last `sync_seconds` of results, which a resumed batch runs
again. At the end of a run `compact()` merges everything into one sorted
Parquet part.

Results are written at least once, so an index may have several records.
Readers keep exactly one, by this rule:

    the first `completed` record of an index wins; if it has none, its first record wins.

"First" is write order: parts by `seq`, rows in file order. A repeated
delivery never changes an answer, and a retry of failed items can turn
`failed` (or `cancelled`) into `completed`, never the reverse.

The frames of outcome rows (schema, checks, that rule) are engine.store.outcome_rows;
the file writes and reads, engine.store.files; the results files' names and
windowed reads, engine.store.result_reads.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl
import pyarrow.parquet as pq

from engine.errors import Conflict, NotFound
from engine.outcome import ITEM_STATUSES
from engine.store.files import (
    LOG_SUFFIX,
    SpanCache,
    file_lock,
    thread_lock,
    write_atomic,
    write_input,
    write_json,
    write_outcome_parquet,
)
from engine.store.outcome_rows import (
    OUTCOME_SCHEMA,
    OUTPUT_COLUMNS,
    OUTPUT_ROW_COLUMNS,
    outcome_frame,
    output_records,
)
from engine.store.result_reads import (
    joined_windows,
    ordered_result_files,
    result_windows,
    seq_of,
    winning_records,
)
from engine.store.results_log import ResultsLog
from loaders import rechunk

__all__ = ["BatchStore", "OUTCOME_SCHEMA", "OUTPUT_COLUMNS", "new_batch_id", "validate_batch_id"]

LOG_ROWS = 100_000  # a results log is closed, and the next one begun, past this many rows
COMPACT_ROWS = 100_000  # indexes merged at a time by compact()

_BATCH_ID = re.compile(r"batch_[A-Za-z0-9_-]{8,64}")
_WRITER = re.compile(r"[A-Za-z0-9_-]{1,32}")


def new_batch_id() -> str:
    """A fresh, unguessable batch id (`batch_` + 22 URL-safe characters)."""
    return "batch_" + secrets.token_urlsafe(16)


def validate_batch_id(batch_id) -> str:
    """Return `batch_id` if well formed; NotFound otherwise (it names no batch, and no path)."""
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        raise NotFound("no such batch", field="batch_id")
    return batch_id


class BatchStore:
    """Batches under `root` (a shared filesystem path on a cluster); plain blocking I/O."""

    def __init__(self, root: str | Path = "./.agentflow", sync_seconds: float | None = 1.0):
        """`sync_seconds`: fsync a results log at most this often (0: every write; None: never)."""
        self.root = Path(root)
        self.sync_seconds = sync_seconds
        self._batches = self.root / "batches"
        self._next_seq: dict[str, int] = {}  # batch_id -> seq of its next results file
        self._logs: dict[tuple[str, str], ResultsLog] = {}  # (batch_id, writer) -> its open log
        self._spans = SpanCache()

    # ---- batches and meta ---------------------------------------------------

    def create(self, batch_id: str, meta: dict, items: Iterable[pl.DataFrame]) -> int:
        """Store a batch's input frames and meta (with `total_items`); return total_items."""
        final = self._path(batch_id)
        if final.exists():
            raise Conflict(f"batch {batch_id} already exists", field="batch_id")
        self._batches.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{batch_id}-", dir=self._batches))
        try:
            total = write_input(tmp / "input", items)
            (tmp / "results").mkdir()
            write_json(tmp / "meta.json", {**meta, "batch_id": batch_id, "total_items": total})
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return total

    def exists(self, batch_id: str) -> bool:
        """Whether the batch is stored (created, and not deleted since)."""
        return self._path(batch_id).is_dir()

    def meta_version(self, batch_id: str) -> int | None:
        """The meta's mtime in ns (it changes with every write), or None if there is no batch."""
        try:
            return (self._path(batch_id) / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def read_meta(self, batch_id: str) -> dict:
        """The batch's meta; NotFound if there is no such batch."""
        try:
            return json.loads((self._path(batch_id) / "meta.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"no batch {batch_id}", field="batch_id") from None

    def update_meta(self, batch_id: str, **changes) -> dict:
        """Apply `changes` to the meta atomically; return the new meta."""
        path = self._path(batch_id) / "meta.json"
        # The API process (cancel) and the coordinator both update: lock across threads and processes.
        with thread_lock(str(path)), file_lock(path.with_name("meta.lock"), batch_id):
            meta = self.read_meta(batch_id)
            meta.update(changes)
            write_json(path, meta)
        return meta

    def list_batches(self, owner: str | None = None) -> list[dict]:
        """Metas, newest first (by `created_at`, epoch seconds); only `owner`'s if given."""
        metas = [m for m in self._metas() if owner is None or m.get("owner") == owner]
        return sorted(metas, key=lambda m: m.get("created_at") or 0.0, reverse=True)

    def expired(self, now: float) -> list[str]:
        """Ids of the batches whose `expires_at` is before `now`."""
        return [m["batch_id"] for m in self._metas() if (m.get("expires_at") or now) < now]

    def delete(self, batch_id: str) -> None:
        """Remove a batch; it disappears at once (renamed away, then removed)."""
        path = self._path(batch_id)
        self.close(batch_id)
        doomed = self._batches / f".deleted-{batch_id}-{uuid.uuid4().hex}"
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            raise NotFound(f"no batch {batch_id}", field="batch_id") from None
        shutil.rmtree(doomed, ignore_errors=True)

    # ---- input --------------------------------------------------------------

    def iter_input(self, batch_id: str, start: int = 0, shard_size: int = 1000,
                   skip: Iterable[int] | pl.Series | None = None) -> Iterator[pl.DataFrame]:
        """Input rows with index >= start, in index order, in frames of <= shard_size rows.

        Indexes in `skip` (a set, or the Series `done_indexes` returns) are left out.
        Reads one row group at a time, never the whole input.
        """
        parts = self._input_parts(batch_id)
        skipped = None if skip is None else pl.Series("index", list(skip) if isinstance(skip, set) else skip,
                                                      dtype=pl.Int64)

        def frames() -> Iterator[pl.DataFrame]:
            after = 0  # index after the part's last row: parts are contiguous
            for part in parts:
                file = pq.ParquetFile(part)
                after += file.metadata.num_rows
                if after <= start:
                    continue
                for batch in file.iter_batches(batch_size=shard_size):
                    frame = pl.from_arrow(batch).filter(pl.col("index") >= start)
                    yield frame if skipped is None else frame.filter(~pl.col("index").is_in(skipped.implode()))

        return rechunk(frames(), shard_size)

    # ---- results ------------------------------------------------------------

    def write_results(self, batch_id: str, outcomes: pl.DataFrame | list[dict], writer: str = "w") -> None:
        """Append outcome rows (see OUTCOME_SCHEMA) to this process's results log; whole, at least once.

        `writer` names the writing process; concurrent writers must use different names.
        """
        if not _WRITER.fullmatch(writer):
            raise ValueError(f"writer must match {_WRITER.pattern}")
        frame = outcome_frame(outcomes)
        if frame.is_empty():
            return
        results = self._path(batch_id) / "results"
        with thread_lock(str(results)):
            log = self._log(batch_id, writer)
            try:
                log.append(frame)
            except BaseException:  # a torn write ends the log: later writes must not follow it
                self._close_log(batch_id, writer, sync=False)
                raise
            if log.rows >= LOG_ROWS:
                self._close_log(batch_id, writer)
            elif self.sync_seconds is not None and log.unsynced_seconds() >= self.sync_seconds:
                log.sync()

    def sync(self, batch_id: str) -> None:
        """fsync the batch's open results logs (a no-op when nothing was written since the last)."""
        with thread_lock(str(self._path(batch_id) / "results")):
            for (owner, _), log in self._logs.items():
                if owner == batch_id:
                    log.sync()

    def close(self, batch_id: str) -> None:
        """Close (and fsync, unless sync_seconds is None) the batch's open results logs."""
        with thread_lock(str(self._path(batch_id) / "results")):
            for owner, writer in [key for key in self._logs if key[0] == batch_id]:
                self._close_log(owner, writer)

    def done_indexes(self, batch_id: str, include_failed: bool = True) -> pl.Series:
        """Sorted Int64 Series of the indexes with a terminal result (without `failed` ones if asked).

        A Series, not a set: 8 bytes an index instead of ~60, and `iter_input(skip=...)`
        filters with it vectorised; `i in series` and `len()` still work.
        """
        kept = winning_records(self._result_files(batch_id))
        if not include_failed:
            kept = kept.filter(pl.col("status") != "failed")
        return kept.select("index").collect()["index"]

    def counts(self, batch_id: str) -> dict:
        """Deduplicated completed/failed/cancelled counts and the winning records' tokens."""
        out = {status: 0 for status in ITEM_STATUSES} | {"prompt_tokens": 0, "completion_tokens": 0}
        kept = winning_records(self._result_files(batch_id))
        tokens = ("prompt_tokens", "completion_tokens")
        for row in kept.group_by("status").agg(pl.len(), *map(pl.sum, tokens)).collect().iter_rows(named=True):
            out[row["status"]] = row["len"]
            out.update({name: out[name] + row[name] for name in tokens})
        return out

    def compact(self, batch_id: str) -> None:
        """Merge the results files into one sorted Parquet part holding only the winning records.

        Call it when no other process writes to the batch; this one's logs are
        closed first. The merged part is written (window by window: bounded
        memory) after all others, with the highest seq; then the old files are
        removed newest first. At every step each index's winner is still in an
        old file or, once that file is gone, in the merged one: a reader, or a
        crash in between, sees the same records.
        """
        self.close(batch_id)
        results = self._path(batch_id) / "results"
        with thread_lock(str(results)):
            files = self._result_files(batch_id)
            if not files or (len(files) == 1 and files[0].name.endswith("-compact.parquet")):
                return
            spans = self._spans.spans(files)
            end = max((last for _, _, last in spans), default=-1) + 1
            windows = self._result_windows(batch_id, 0, end, COMPACT_ROWS, spans)
            seq = seq_of(files[-1]) + 1
            write_atomic(results / f"part-{seq:08d}-compact.parquet", lambda f: write_outcome_parquet(f, windows))
            self._next_seq[batch_id] = seq + 1
            for file in reversed(files):
                file.unlink(missing_ok=True)
            self._spans.forget(files)

    def iter_results(self, batch_id: str, offset: int = 0, limit: int | None = None,
                     chunk_rows: int = 10_000) -> Iterator[list[dict]]:
        """One record per item in [offset, offset+limit), in item order, in lists of <= chunk_rows.

        Record: index, id, status (a terminal status, or "pending"), result (parsed
        JSON), error ({"type", "message"} or None), attempts, cached.
        """
        for frame in self.iter_result_frames(batch_id, offset, limit, chunk_rows):
            yield output_records(frame)

    def iter_result_frames(self, batch_id: str, offset: int = 0, limit: int | None = None,
                           chunk_rows: int = 10_000) -> Iterator[pl.DataFrame]:
        """iter_results as frames of OUTPUT_COLUMNS, `result` still JSON text (for columnar export).

        Each window is read with a filter on `index`, so memory stays bounded by chunk_rows.
        """
        return self._joined_windows(batch_id, offset, limit, chunk_rows, ("index", "id"), OUTPUT_COLUMNS)

    def iter_output_frames(self, batch_id: str, offset: int = 0, limit: int | None = None,
                           chunk_rows: int = 10_000) -> Iterator[pl.DataFrame]:
        """iter_result_frames with each item's input beside its result: frames of OUTPUT_ROW_COLUMNS.

        The join of the input parts and the results, window by window: memory is
        bounded by chunk_rows whatever the batch's size.
        """
        return self._joined_windows(batch_id, offset, limit, chunk_rows, ("index", "id", "content", "metadata"),
                                    OUTPUT_ROW_COLUMNS)

    def scan_winners(self, batch_id: str) -> pl.LazyFrame:
        """Every item's winning record (OUTCOME_SCHEMA), lazily; collect it at once (a compaction moves files)."""
        return winning_records(self._result_files(batch_id))

    def scratch_dir(self) -> Path:
        """A directory for temporary files of this store (an export being built)."""
        path = self.root / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- internals ----------------------------------------------------------

    def _path(self, batch_id: str) -> Path:
        return self._batches / validate_batch_id(batch_id)

    def _metas(self) -> Iterator[dict]:
        if not self._batches.is_dir():
            return
        for entry in os.scandir(self._batches):
            if _BATCH_ID.fullmatch(entry.name):  # skips .tmp- and .deleted- directories
                try:
                    yield self.read_meta(entry.name)
                except NotFound:  # deleted meanwhile
                    continue

    def _input_parts(self, batch_id: str) -> list[Path]:
        names = sorted(name for name in self._listdir(batch_id, "input") if name.startswith("part-"))
        return [self._path(batch_id) / "input" / name for name in names]

    def _result_files(self, batch_id: str) -> list[Path]:
        """Results logs and parts in write order (by seq, then writer)."""
        return ordered_result_files(self._path(batch_id) / "results", self._listdir(batch_id, "results"))

    def _seq(self, batch_id: str) -> int:
        """The next results file's seq: listed once, then counted here (one writing process per batch)."""
        if batch_id not in self._next_seq:
            files = self._result_files(batch_id)
            self._next_seq[batch_id] = seq_of(files[-1]) + 1 if files else 0
        return self._next_seq[batch_id]

    def _log(self, batch_id: str, writer: str) -> ResultsLog:
        """This process's open log for `writer`; a new one (the next seq) if there is none."""
        log = self._logs.get((batch_id, writer))
        if log is None:
            seq = self._seq(batch_id)
            log = ResultsLog(self._path(batch_id) / "results" / f"log-{seq:08d}-{writer}{LOG_SUFFIX}")
            self._logs[(batch_id, writer)] = log
            self._next_seq[batch_id] = seq + 1
        return log

    def _close_log(self, batch_id: str, writer: str, sync: bool = True) -> None:
        self._logs.pop((batch_id, writer)).close(sync=sync and self.sync_seconds is not None)

    def _listdir(self, batch_id: str, sub: str) -> list[str]:
        try:
            return os.listdir(self._path(batch_id) / sub)
        except FileNotFoundError:
            raise NotFound(f"no batch {batch_id}", field="batch_id") from None
    def _joined_windows(self, batch_id: str, offset: int, limit: int | None, chunk_rows: int,
                        input_columns: tuple[str, ...], columns: tuple[str, ...]) -> Iterator[pl.DataFrame]:
        """Input rows [offset, offset+limit) joined with their winning results, `chunk_rows` at a time."""
        total = self.read_meta(batch_id).get("total_items", 0)
        start, end = max(offset, 0), total if limit is None else min(total, offset + limit)
        inputs = self._input_parts(batch_id) if end > start else []
        windows = self._result_windows(batch_id, start, end, chunk_rows)
        return joined_windows(inputs, windows, start, end, chunk_rows, input_columns, columns)

    def _result_windows(self, batch_id: str, low: int, high: int, rows: int,
                        spans: list | None = None) -> Iterator[pl.DataFrame]:
        """Winning records with index in [low, high), sorted, one frame per `rows` indexes."""
        return result_windows(lambda: self._result_files(batch_id), self._spans, batch_id, low, high, rows, spans)
