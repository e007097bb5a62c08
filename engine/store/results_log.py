"""Results logs: append-only files of outcome frames, one per writing process.

A log is a header, then records: an 8-byte little-endian length and that
many bytes of one frame as an lz4-compressed Arrow IPC stream, written by
Polars itself (about half the cost of converting to pyarrow first, and a
seventh of the bytes to write and fsync).

Each append is one `write(2)` of one record, so a crash tears at most the
last one; `read_log` stops there. Only the process that created a log appends
to it: after a restart the next write starts a new log.
"""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import polars as pl

HEADER = b"AFLOG\x00\x00\x01"  # the format and its version
_LENGTH = struct.Struct("<Q")


class ResultsLog:
    """An append-only log of outcome frames, written by this process only."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self.rows, self._dirty, self._synced_at = 0, True, time.monotonic()
        _write_all(self._fd, HEADER)

    def append(self, frame: pl.DataFrame) -> None:
        """One write(2) per call, so a crash tears at most the last one, which readers skip."""
        buffer = io.BytesIO()
        buffer.write(bytes(_LENGTH.size))  # the length, filled in below
        frame.write_ipc_stream(buffer, compression="lz4")
        record = buffer.getbuffer()
        _LENGTH.pack_into(record, 0, len(record) - _LENGTH.size)
        try:
            _write_all(self._fd, record)
        finally:
            record.release()
        self.rows += frame.height
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


def read_log(path: Path, schema: dict) -> pl.DataFrame:
    """The whole records of a results log; a torn or half-written last one is left out."""
    data = path.read_bytes()  # FileNotFoundError if compacted away: the caller lists again
    frames = []
    at = len(HEADER) if data[:len(HEADER)] == HEADER else len(data)  # a torn header: nothing yet
    while at + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, at)
        start, at = at + _LENGTH.size, at + _LENGTH.size + length
        if at > len(data):
            break  # the tail of a log being written, or torn by a crash
        try:
            frames.append(pl.read_ipc_stream(data[start:at]))
        except (pl.exceptions.PolarsError, OSError):  # damaged: a crash before the fsync
            break
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
