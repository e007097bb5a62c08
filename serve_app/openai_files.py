"""The OpenAI-compatible `/v1/files` routes: upload, list, retrieve, download, delete.

An upload is parsed as it streams in (serve_app.multipart) and its file part
written straight to disk, its lines counted on the way: never whole in memory.
Output and error files of batches are not uploaded: they are made from the
batch's results on each download (engine.batch.openai_batches).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, request_response

from engine.errors import InvalidRequest, PayloadTooLarge
from serve_app.auth import Authenticator
from serve_app.endpoint import api_endpoint, chunks_in_thread
from serve_app.limits import BodyLimit
from serve_app.multipart import FormReader, boundary_of

if TYPE_CHECKING:
    from engine.batch.openai_batches import OpenAIBatches

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_FILE_LINES = 1_000_000
FORM_OVERHEAD = 64 * 1024
PURPOSES = ("batch",)


class LineCountingFile:
    """A temporary file under `directory` that an upload's bytes are streamed into, lines counted."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path: Path | None = None
        self.filename: str | None = None
        self.size = self.lines = 0
        self._file = None
        self._last = b"\n"

    def open(self, filename: str, content_type: str | None = None):
        handle, name = tempfile.mkstemp(suffix=".jsonl", dir=self.directory)
        self.path, self.filename = Path(name), filename
        self._file = os.fdopen(handle, "wb")
        return self.write

    def write(self, data: memoryview) -> None:
        self.size += len(data)
        if self.size > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES:,} bytes", field="file")
        self.lines += bytes(data).count(b"\n")
        if self.lines > MAX_FILE_LINES:
            raise PayloadTooLarge(f"the file has more than {MAX_FILE_LINES:,} lines", field="file")
        if len(data):
            self._last = bytes(data[-1:])
        self._file.write(data)

    def close(self) -> int:
        """Close the file; return its line count (a last line without a newline counts)."""
        if self._file is not None:
            self._file.close()
        return self.lines + (self.size > 0 and self._last != b"\n")

    def remove(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def query_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw is None else int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, got {raw!r}", field=name) from None


def _page(items: list[dict], after: str | None, limit: int) -> dict:
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit}


def file_routes(openai: "OpenAIBatches", auth: Authenticator) -> list[Route]:
    from engine.batch.openai_objects import file_object

    files = openai.files

    async def read_upload(request: Request) -> tuple[LineCountingFile, dict]:
        target = LineCountingFile(await asyncio.to_thread(files.incoming))
        form = FormReader(boundary_of(request.headers.get("content-type", "")), target.open, max_fields=20,
                          max_field_bytes=FORM_OVERHEAD)
        try:
            async for chunk in request.stream():
                form.feed(chunk)
            form.finish()
        except BaseException:
            target.remove()
            raise
        return target, dict(form.fields)

    @api_endpoint
    async def upload(request: Request):
        owner = auth.owner_of(request)
        target, fields = await read_upload(request)
        try:
            lines = target.close()
            if target.path is None:
                raise InvalidRequest("the form has no 'file' part", field="file")
            purpose = fields.get("purpose", "").strip()
            if purpose not in PURPOSES:
                raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}",
                                     field="purpose")
            meta = await asyncio.to_thread(files.adopt, target.path, owner, target.filename or "upload.jsonl",
                                           purpose, lines)
        finally:
            target.remove()  # gone already once adopted
        return JSONResponse(file_object(meta))

    @api_endpoint
    async def list_files(request: Request):
        owner = auth.owner_of(request)
        limit = query_int(request, "limit", 10_000)
        if not 1 <= limit <= 10_000:
            raise InvalidRequest("limit must be between 1 and 10000", field="limit")
        metas = await asyncio.to_thread(files.list, owner, request.query_params.get("purpose"))
        if request.query_params.get("order") == "asc":
            metas.reverse()
        return JSONResponse(_page([file_object(m) for m in metas], request.query_params.get("after"), limit))

    @api_endpoint
    async def retrieve(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(openai.file, request.path_params["file_id"], owner))

    @api_endpoint
    async def content(request: Request):
        owner = auth.owner_of(request)
        chunks = await asyncio.to_thread(openai.content, request.path_params["file_id"], owner)
        return StreamingResponse(chunks_in_thread(chunks), media_type="application/jsonl")

    @api_endpoint
    async def delete(request: Request):
        owner = auth.owner_of(request)
        file_id = request.path_params["file_id"]
        await asyncio.to_thread(files.delete, file_id, owner)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    return [
        Route("/v1/files", BodyLimit(request_response(upload), MAX_FILE_BYTES + FORM_OVERHEAD), methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", retrieve, methods=["GET"]),
        Route("/v1/files/{file_id}", delete, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", content, methods=["GET"]),
    ]
