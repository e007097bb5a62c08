"""A file still being written, read as it grows: an upload parsed while it arrives.

The writer reports each flushed size with `grew`, then `finish`es (the reader
then sees end-of-file) or `abort`s (the reader gets UploadAborted). A reader
at the written end waits instead of seeing end-of-file; a seek from the end
waits for the whole file. It is a path too (`os.fspath`), for the extension.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import BinaryIO

READ_BUFFER = 1024 * 1024


class UploadAborted(Exception):
    """The file being read will not be completed (the request failed or must be read again)."""


class GrowingFile(os.PathLike):
    def __init__(self, path: Path):
        self.path = path
        self._size = 0
        self._done = False
        self._aborted = False
        self._changed = threading.Condition()

    def __fspath__(self) -> str:
        return str(self.path)

    # ---- the writer's side ---------------------------------------------------

    def grew(self, size: int) -> None:
        with self._changed:
            self._size = size
            self._changed.notify_all()

    def finish(self) -> None:
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    # ---- the reader's side ---------------------------------------------------

    def open(self) -> BinaryIO:
        return io.BufferedReader(_Reader(self), buffer_size=READ_BUFFER)

    def wait_beyond(self, position: int) -> int:
        """The written size, once it is beyond `position` or final."""
        with self._changed:
            self._changed.wait_for(lambda: self._aborted or self._done or self._size > position)
            if self._aborted:
                raise UploadAborted("the upload stopped before its end")
            return self._size

    def wait_done(self) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._aborted or self._done)
            if self._aborted:
                raise UploadAborted("the upload stopped before its end")
            return self._size


class _Reader(io.RawIOBase):
    def __init__(self, growing: GrowingFile):
        self._growing = growing
        self._file = open(growing.path, "rb", buffering=0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        position = self._file.tell()
        available = self._growing.wait_beyond(position) - position
        if available <= 0:
            return 0  # finished: the end of the file
        return self._file.readinto(memoryview(buffer)[:available])

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self._growing.wait_done() + offset, io.SEEK_SET
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()
