"""The named file an upload's file part is written to while the body arrives."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from engine.errors import PayloadTooLarge
from loaders import upload_suffix


class UploadTarget:
    """A temporary file under `directory`, named with the upload's format's extension (for format detection).

    Stops with PayloadTooLarge as soon as more than `max_bytes` were written; the
    content hash (for Idempotency-Key) is only computed when `with_digest`.
    """

    def __init__(self, directory: Path, max_bytes: int, with_digest: bool):
        self.directory = directory
        self.max_bytes = max_bytes
        self.path: Path | None = None
        self.size = 0
        self._digest = hashlib.sha256() if with_digest else None
        self._file = None

    def open(self, filename: str, content_type: str | None = None):
        """Create the file for an upload called `filename`; return its writer."""
        suffix = upload_suffix(filename, content_type)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(suffix=suffix, dir=self.directory)
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        return self.write

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the file is larger than {self.max_bytes:,} bytes", field="file")
        if self._digest is not None:
            self._digest.update(data)
        self._file.write(data)

    @property
    def digest(self) -> str | None:
        return self._digest.hexdigest() if self._digest is not None else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def remove(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
