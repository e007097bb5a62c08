"""A tiny, dependency-free progress bar for `Batch.wait()` and the CLI.

    batch_abc  [##########..........]  342/500  68.4%  120.5 items/s  ETA 0:00:01

On a terminal the line is redrawn in place; anywhere else (a log file, CI) a
full line is written at most every `log_every` seconds, so a long batch does
not flood the log with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_duration(seconds: float | None) -> str:
    """`h:mm:ss`, or `?` when unknown."""
    if seconds is None or seconds < 0 or seconds != seconds or seconds == float("inf"):
        return "?"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class ProgressBar:
    """Draws `done/total` with the rate and ETA measured since the first update."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 30,
                 clock: Callable[[], float] = time.monotonic, log_every: float = 10.0):
        self.total = max(int(total), 0)
        self.label = label
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._clock = clock
        self._log_every = log_every
        self._interactive = bool(getattr(self._stream, "isatty", lambda: False)())
        self._first: tuple[float, int] | None = None
        self._updated_at = 0.0
        self._last_line = ""
        self._last_written = ""
        self._last_logged = float("-inf")
        self.done = 0

    def rate(self) -> float:
        """Items per second between the first and the latest update (0.0 until time has passed)."""
        if self._first is None:
            return 0.0
        started, done_then = self._first
        elapsed = self._updated_at - started
        return (self.done - done_then) / elapsed if elapsed > 0 else 0.0

    def render(self) -> str:
        """The bar as one line of text (no newline)."""
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * self._width)
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate > 0 else None
        bar = "#" * filled + "." * (self._width - filled)
        prefix = f"{self.label}  " if self.label else ""
        return (f"{prefix}[{bar}]  {self.done}/{self.total}  {100 * fraction:5.1f}%  "
                f"{rate:.1f} items/s  ETA {format_duration(0 if self.done >= self.total else eta)}")

    def update(self, done: int, total: int | None = None) -> None:
        """Record that `done` items are finished (of `total`, if it changed) and redraw."""
        if total is not None:
            self.total = max(int(total), 0)
        self.done = int(done)
        self._updated_at = self._clock()
        if self._first is None:
            self._first = (self._updated_at, self.done)
        self._draw(final=False)

    def close(self) -> None:
        """Draw the last state and end the line."""
        self._draw(final=True)
        if self._interactive:
            self._stream.write("\n")
        self._stream.flush()

    def _draw(self, final: bool) -> None:
        line = self.render()
        if self._interactive:
            # Pad over the previous line's tail, which may have been longer.
            self._stream.write("\r" + line.ljust(len(self._last_line)))
            self._stream.flush()
        elif (final or self._clock() - self._last_logged >= self._log_every) and line != self._last_written:
            self._stream.write(line + "\n")
            self._stream.flush()
            self._last_written, self._last_logged = line, self._clock()
        self._last_line = line
