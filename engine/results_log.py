"""Results logs: append-only Arrow IPC streams of outcome rows, one per writing process.

Each append is one `write(2)` of whole record batches, so a crash tears at
most the last one; `read_log` stops there. Only the process that created a
log appends to it: after a restart the next write starts a new log.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc


class ResultsLog:
    """An append-only Arrow IPC stream of outcomes, written by this process only."""

    def __init__(self, path: Path, schema: pa.Schema):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self.rows, self._dirty, self._synced_at = 0, True, time.monotonic()
        _write_all(self._fd, schema.serialize())

    def append(self, table: pa.Table) -> None:
        """One write(2) per call, so a crash tears at most the last one, which readers skip."""
        batches = table.to_batches()
        data = batches[0].serialize() if len(batches) == 1 else b"".join(b.serialize() for b in batches)
        _write_all(self._fd, data)
        self.rows += table.num_rows
        self._dirty = True

    def unsynced_seconds(self) -> float:
        return time.monotonic() - self._synced_at if self._dirty else 0.0

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self._fd)
            self._dirty, self._synced_at = False, time.monotonic()

    def close(self, sync: bool) -> None:
        try:
            if sync:
                self.sync()
        finally:
            os.close(self._fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_log(path: Path, schema: pa.Schema) -> pa.Table:
    """The whole writes of a results log; a torn or half-written last one is left out."""
    data = pa.py_buffer(path.read_bytes())  # FileNotFoundError if compacted away: the caller lists again
    batches = []
    try:
        for batch in ipc.open_stream(data):
            batches.append(batch)
    except (pa.ArrowException, OSError):  # the tail of a log being written, or torn by a crash
        pass
    return pa.Table.from_batches(batches, schema=schema)
