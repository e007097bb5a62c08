"""POST /api/files: a multipart upload becomes an async batch.

The body limit (serve_app.limits.BodyLimit) is enforced on the bytes as
they arrive, so an oversize upload gets 413 without being read whole;
Starlette spools the file part to disk past 1 MB. The loaders then
parse it with Polars, streaming, straight into the store's input parts.
"""

from __future__ import annotations

import asyncio
import json
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import Route, request_response

from engine.errors import InvalidRequest, PayloadTooLarge
from engine.models import CONTROL_FIELDS, OPERATIONS, PARAMS, BatchControls, OperationParams, normalise_operation
from serve_app.auth import Authenticator
from serve_app.limits import BodyLimit
from serve_app.batch_routes import create_batch
from serve_app.endpoint import api_endpoint

if TYPE_CHECKING:
    from engine.batches import BatchService

FORM_FIELD_LIMIT = 1024 * 1024
FORM_OVERHEAD = 256 * 1024  # the text fields and multipart framing around the file
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


def parse_form_fields(form) -> tuple[str, OperationParams, dict, BatchControls]:
    """(operation, its params, loader options, batch controls) from the form's text fields."""
    # An HTML form posts its unused inputs as empty strings: those mean "not given".
    fields = {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile) and v.strip()}
    operation = normalise_operation(fields.pop("operation", "").strip())
    if operation not in OPERATIONS:
        raise InvalidRequest(f"operation must be one of classify, {', '.join(OPERATIONS)}", field="operation")
    values = {name: _parse_value(name, raw) for name, raw in fields.items()}
    loader = {name: values.pop(name) for name in LOADER_FIELDS if name in values}
    controls = BatchControls.model_validate({name: values.pop(name) for name in CONTROL_FIELDS if name in values})
    params = PARAMS[operation].model_validate(values)
    return operation, params, loader, controls


def _copy(source, target, digest) -> None:
    while chunk := source.read(1024 * 1024):
        if digest is not None:
            digest.update(chunk)
        target.write(chunk)


async def save_upload(upload: UploadFile, directory: Path, with_digest: bool) -> tuple[Path, str | None]:
    """Copy the spooled upload to a named file (keeping its extension for format detection).

    The content hash (for Idempotency-Key) is only computed when a key was sent.
    """
    suffix = Path(upload.filename or "").suffix.lower()[:10]
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=suffix, dir=directory)
    digest = hashlib.sha256() if with_digest else None
    with os.fdopen(handle, "wb") as target:
        await asyncio.to_thread(_copy, upload.file, target, digest)
    return Path(name), digest.hexdigest() if digest else None


def file_routes(batches: "BatchService", auth: Authenticator, max_upload_bytes: int) -> list[Route]:
    from engine.idempotency import IdempotencyIndex

    idempotency = IdempotencyIndex(batches.settings.store)
    uploads = Path(batches.settings.store) / "uploads"

    @api_endpoint
    async def upload(request: Request):
        owner = auth.owner_of(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise InvalidRequest("send the file as multipart/form-data with a 'file' field", field="file")
        async with request.form(max_files=1, max_fields=100, max_part_size=FORM_FIELD_LIMIT) as form:
            upload_file = form.get("file")
            if not isinstance(upload_file, UploadFile):
                raise InvalidRequest("the form has no 'file' part", field="file")
            operation, params, loader, controls = parse_form_fields(form)
            with_key = request.headers.get("idempotency-key") is not None
            path, digest = await save_upload(upload_file, uploads, with_key)
        if path.stat().st_size > max_upload_bytes:
            path.unlink(missing_ok=True)
            raise PayloadTooLarge(f"the file is larger than {max_upload_bytes:,} bytes", field="file")
        try:
            from loaders import read_items

            fmt = loader.pop("format", None)
            frames = read_items(path, fmt, **loader)
            key_body = json.dumps([operation, params.model_dump(mode="json"), loader, digest]).encode()
            return await create_batch(batches, idempotency, request, owner, operation, params, frames,
                                      key_body, "file", controls)
        finally:
            path.unlink(missing_ok=True)

    limit = BodyLimit(request_response(upload), max_upload_bytes + FORM_OVERHEAD)
    return [Route("/api/files", limit, methods=["POST"])]
