"""POST /api/files: a multipart upload becomes an async batch.

The body limit (serve_app.limits.BodyLimit) is enforced on the bytes as
they arrive, so an oversize upload gets 413 without being read whole. The
body is parsed as it streams in (serve_app.multipart): the file part goes
straight to a named file, with no spooled copy in between.

The loaders parse that file, streaming, straight into the store's input
parts, and they start while it still arrives (a loaders.growing.GrowingFile),
with the text fields sent before the file. The batch commits only once the
body is whole; if a field came after the file, that early work is dropped and
the file parsed again with every field.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import Route, request_response

from engine.errors import InvalidRequest
from engine.models import (
    CONTROL_FIELDS,
    PARAMS,
    BatchControls,
    OperationParams,
    operation_of,
)
from serve_app.auth import Authenticator
from serve_app.batch_routes import create_batch
from serve_app.endpoint import api_endpoint
from serve_app.limits import BodyLimit
from serve_app.multipart import FormReader, boundary_of
from serve_app.upload_target import UploadTarget

if TYPE_CHECKING:
    from engine.batch.service import BatchService

FORM_FIELD_LIMIT = 1024 * 1024
FORM_OVERHEAD = 256 * 1024  # the text fields and multipart framing around the file
MAX_EARLY_UPLOADS = 2  # uploads parsed while they arrive at once; more are parsed once received
JSON_FIELDS = ("fields", "runtime_categories", "response_format", "categories")
LIST_FIELDS = ("categories", "metadata_columns")
BOOL_FIELDS = ("multi_label", "include_context", "include_rationale", "dry_run", "cache")
LOADER_FIELDS = ("content_column", "id_column", "metadata_columns", "format")


def _parse_value(name: str, raw: str) -> Any:
    text = raw.strip()
    if name in BOOL_FIELDS:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidRequest(f"{name} must be true or false, got {raw!r}", field=name)
        return text.lower() in ("true", "1", "yes")
    if name in JSON_FIELDS and text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidRequest(f"{name} is not valid JSON: {exc}", field=name) from None
    if name in LIST_FIELDS:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def parse_form_fields(pairs: list[tuple[str, str]]) -> tuple[str, OperationParams, dict, BatchControls]:
    """(operation, its params, loader options, batch controls) from the form's text fields."""
    # An HTML form posts its unused inputs as empty strings: those mean "not given".
    fields = {k: v for k, v in pairs if v.strip()}
    operation = operation_of(fields.pop("operation", None))
    values = {name: _parse_value(name, raw) for name, raw in fields.items()}
    loader = {name: values.pop(name) for name in LOADER_FIELDS if name in values}
    controls = BatchControls.model_validate({name: values.pop(name) for name in CONTROL_FIELDS if name in values})
    params = PARAMS[operation].model_validate(values)
    return operation, params, loader, controls


async def _discard(task: asyncio.Task) -> None:
    """Wait until an early batch has stopped; its error (UploadAborted, mostly) is of no interest."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


def file_routes(batches: "BatchService", auth: Authenticator, max_upload_bytes: int) -> list[Route]:
    from engine.batch.idempotency import IdempotencyIndex

    idempotency = IdempotencyIndex(batches.settings.store, batches.store.exists)
    uploads = Path(batches.settings.store) / "uploads"
    early_running = 0  # uploads being parsed while they arrive (one event loop: a plain counter)

    async def make_batch(request: Request, owner: str, pairs: list[tuple[str, str]], source, digest: str | None):
        """The batch of a file (a path, or a GrowingFile still arriving) and the form's text fields."""
        from loaders import read_items

        operation, params, loader, controls = parse_form_fields(pairs)
        fmt = loader.pop("format", None)
        # In a thread: without a format or an extension, read_items sniffs the file's first bytes,
        # which for a GrowingFile only arrive through this event loop.
        frames = await asyncio.to_thread(read_items, source, fmt, **loader)
        key_body = json.dumps([operation, params.model_dump(mode="json"), loader, digest]).encode()
        return await create_batch(batches, idempotency, request, owner, operation, params, frames,
                                  key_body, "file", controls)

    def start_early(request: Request, owner: str, pairs: list[tuple[str, str]], target: UploadTarget):
        """Start creating the batch while its file arrives, from the fields sent before the file.

        None if those fields are not valid (the body is then read whole and the error
        raised in the usual order: a missing file first), or if MAX_EARLY_UPLOADS are
        already running: each holds a thread of the event loop's default executor
        for as long as its client takes to send the file.
        """
        nonlocal early_running
        if early_running >= MAX_EARLY_UPLOADS:
            return None
        try:
            parse_form_fields(pairs)
        except (InvalidRequest, ValidationError):
            return None
        early_running += 1
        task = asyncio.create_task(make_batch(request, owner, pairs, target.growing, None))
        task.add_done_callback(_early_done)
        return task

    def _early_done(_task) -> None:
        nonlocal early_running
        early_running -= 1

    @api_endpoint
    async def upload(request: Request):
        owner = auth.owner_of(request)
        boundary = boundary_of(request.headers.get("content-type", ""))
        with_key = request.headers.get("idempotency-key") is not None
        target = UploadTarget(uploads, max_upload_bytes, with_key)
        form = FormReader(boundary, target.open, max_fields=100, max_field_bytes=FORM_FIELD_LIMIT)
        early, early_fields = None, None
        try:
            async for chunk in request.stream():
                form.feed(chunk)
                # Parse and store the file while it arrives (the batch commits only once the body is
                # whole). Not with an Idempotency-Key: its claim needs the hash of the whole file.
                if early_fields is None and target.growing is not None and not with_key:
                    early_fields = list(form.fields)
                    early = start_early(request, owner, early_fields, target)
            form.finish()
            target.close()
            if target.path is None:
                raise InvalidRequest("the form has no 'file' part", field="file")
            if early is not None and form.fields == early_fields:
                target.growing.finish()  # no field came after the file: the early batch may commit
                return await early
            if early is not None:  # a field came after the file: read the file again, with every field
                target.growing.abort()
                await _discard(early)
            return await make_batch(request, owner, form.fields, target.path, target.digest)
        finally:
            target.remove()  # aborts an early batch still reading (it then never commits)
            if early is not None:
                await _discard(early)

    limit = BodyLimit(request_response(upload), max_upload_bytes + FORM_OVERHEAD)
    return [Route("/api/files", limit, methods=["POST"])]
