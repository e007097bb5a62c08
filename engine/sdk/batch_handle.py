"""`BatchHandle`: a submitted batch, waited for (with a progress bar), read and written to a file.

Built on the four things a backend provides: status, cancel, records, export.
Pure Python and Polars: no Ray, no HTTP.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import polars as pl

from engine.models import FINISHED_STATES
from engine.sdk.progress import ProgressBar
from engine.sdk.results import file_format, results_frame


class BatchHandle:
    """A submitted batch. Subclasses provide `status`, `cancel`, `records` and `export`."""

    poll_seconds = 0.5

    def __init__(self, batch_id: str):
        self.id = batch_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    def status(self) -> dict:
        """The batch's status and progress (as GET /api/batches/{id} returns it)."""
        raise NotImplementedError

    def cancel(self) -> dict:
        """Cancel the batch; completed work is kept. Returns the status."""
        raise NotImplementedError

    def records(self) -> Iterator[dict]:
        """Output records in item order: index, id, status, result, error, ..."""
        raise NotImplementedError

    def export(self, fmt: str, include_input: bool = True) -> Iterator[bytes]:
        """Every item's record in `fmt` (csv, jsonl, json or parquet), as chunks of bytes.

        With `include_input`, a batch made from rows gives its input columns back too.
        """
        raise NotImplementedError

    def updates(self, deadline: float | None) -> Iterator[dict]:
        """Successive statuses until the deadline (polling; a backend may push instead)."""
        while True:
            yield self.status()
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(self.poll_seconds)

    def wait(self, progress: bool = True, timeout: float | None = None) -> dict:
        """Block until the batch is completed, failed or cancelled; return its final status.

        With `progress`, a bar with items/s and ETA is drawn on stderr.
        Raises `TimeoutError` if the batch is still running after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        status: dict = {}
        try:
            for status in self.updates(deadline):
                if progress:
                    bar = bar or ProgressBar(status["total_items"], label=self.id)
                    bar.update(_finished(status), status["total_items"])
                if status["status"] in FINISHED_STATES:
                    return status
        finally:
            if bar is not None:
                bar.close()
        raise TimeoutError(f"batch {self.id} is still {status.get('status')} after {timeout:g}s")

    def results(self) -> pl.DataFrame:
        """One row per item, in order: index, id, status, result fields, error_type, error_message."""
        return results_frame(self.records())

    def to_file(self, path: str | os.PathLike, include_input: bool = True) -> Path:
        """Write every item's record to `path`, in the format its extension names (.csv, .jsonl, .json, .parquet).

        With `include_input` (the default), a batch made from rows (a file, a DataFrame)
        has its input columns beside the results; False gives index, id, status, result, error.
        """
        path = Path(path)
        fmt = file_format(path)
        with open(path, "wb") as handle:
            for chunk in self.export(fmt, include_input):
                handle.write(chunk)
        return path


def _finished(status: dict) -> int:
    return status["completed_items"] + status["failed_items"] + status["cancelled_items"]
