"""`UploadedFiles`: files uploaded to the OpenAI-compatible `/v1/files`, one directory per file.

    <root>/files/<file_id>/meta.json   id, owner, filename, purpose, bytes, lines, created_at, expires_at
    <root>/files/<file_id>/data        the bytes as uploaded

An upload is written to a temporary file under <root>/files/.incoming by its
route (streamed, never whole in memory), then `adopt`ed: its directory is
built beside the others and renamed into place, so a file is listed whole or
not at all. Another owner's file does not exist for a caller (NotFound).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from engine.errors import NotFound
from engine.store.files import write_json

_FILE_ID = re.compile(r"file-[0-9a-f]{24}")
READ_CHUNK = 1024 * 1024


def new_file_id() -> str:
    """`file-` and 24 hex digits (no `_`: output files are named `file-batch_...`, see openai_objects)."""
    return "file-" + secrets.token_hex(12)


class UploadedFiles:
    """Uploaded files under `root` (the store's root); plain blocking I/O."""

    def __init__(self, root: str | Path, retention_days: float = 30.0):
        self._dir = Path(root) / "files"
        self._retention = retention_days * 86400

    def incoming(self) -> Path:
        """The directory an upload is streamed into before `adopt`."""
        path = self._dir / ".incoming"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def adopt(self, upload: Path, owner: str, filename: str, purpose: str, lines: int) -> dict:
        """Take the uploaded file at `upload` (moved, not copied); return its meta."""
        file_id, now = new_file_id(), time.time()
        self._dir.mkdir(parents=True, exist_ok=True)
        meta = {"id": file_id, "owner": owner, "filename": filename, "purpose": purpose,
                "bytes": upload.stat().st_size, "lines": lines, "created_at": now, "expires_at": now + self._retention}
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{file_id}-", dir=self._dir))
        try:
            os.rename(upload, tmp / "data")
            write_json(tmp / "meta.json", meta)
            os.rename(tmp, self._dir / file_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return meta

    def meta(self, file_id: str, owner: str) -> dict:
        """The file's meta; NotFound if there is no such file, or it is another owner's."""
        try:
            meta = json.loads((self._path(file_id) / "meta.json").read_bytes())
        except FileNotFoundError:
            meta = None
        if meta is None or meta.get("owner") != owner:
            raise NotFound(f"no file {file_id}", field="file_id")
        return meta

    def data_path(self, file_id: str, owner: str) -> Path:
        self.meta(file_id, owner)
        return self._path(file_id) / "data"

    def chunks(self, file_id: str, owner: str) -> Iterator[bytes]:
        """The file's bytes, a megabyte at a time (opened now: NotFound is raised here, not mid-stream)."""
        handle = open(self.data_path(file_id, owner), "rb")

        def read() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(READ_CHUNK):
                    yield chunk

        return read()

    def list(self, owner: str, purpose: str | None = None) -> list[dict]:
        """The owner's files, newest first."""
        metas = []
        if self._dir.is_dir():
            for entry in os.scandir(self._dir):
                if not _FILE_ID.fullmatch(entry.name):
                    continue
                try:
                    meta = json.loads(Path(entry.path, "meta.json").read_bytes())
                except FileNotFoundError:  # deleted meanwhile
                    continue
                if meta.get("owner") == owner and purpose in (None, meta.get("purpose")):
                    metas.append(meta)
        return sorted(metas, key=lambda m: (m["created_at"], m["id"]), reverse=True)

    def delete(self, file_id: str, owner: str) -> None:
        self.meta(file_id, owner)
        doomed = self._dir / f".deleted-{file_id}-{secrets.token_hex(4)}"
        try:
            os.rename(self._path(file_id), doomed)
        except FileNotFoundError:
            raise NotFound(f"no file {file_id}", field="file_id") from None
        shutil.rmtree(doomed, ignore_errors=True)

    def _path(self, file_id: str) -> Path:
        if not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id):
            raise NotFound(f"no file {file_id}", field="file_id")
        return self._dir / file_id
