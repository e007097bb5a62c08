"""POST /api/files: a multipart upload becomes an async batch.

The body limit (serve_app.limits.BodyLimit) is enforced on the bytes as
they arrive, so an oversize upload gets 413 without being read whole. The
body is parsed as it streams in (serve_app.multipart): the file part goes
straight to a named file, with no spooled copy in between. The loaders then
parse that file, streaming, straight into the store's input parts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route, request_response

from engine.errors import InvalidRequest
from engine.models import CONTROL_FIELDS, OPERATIONS, PARAMS, BatchControls, OperationParams, normalise_operation
from serve_app.auth import Authenticator
from serve_app.limits import BodyLimit
from serve_app.multipart import FormReader, boundary_of
from serve_app.upload_target import UploadTarget
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


def parse_form_fields(pairs: list[tuple[str, str]]) -> tuple[str, OperationParams, dict, BatchControls]:
    """(operation, its params, loader options, batch controls) from the form's text fields."""
    # An HTML form posts its unused inputs as empty strings: those mean "not given".
    fields = {k: v for k, v in pairs if v.strip()}
    operation = normalise_operation(fields.pop("operation", "").strip())
    if operation not in OPERATIONS:
        raise InvalidRequest(f"operation must be one of classify, {', '.join(OPERATIONS)}", field="operation")
    values = {name: _parse_value(name, raw) for name, raw in fields.items()}
    loader = {name: values.pop(name) for name in LOADER_FIELDS if name in values}
    controls = BatchControls.model_validate({name: values.pop(name) for name in CONTROL_FIELDS if name in values})
    params = PARAMS[operation].model_validate(values)
    return operation, params, loader, controls


def file_routes(batches: "BatchService", auth: Authenticator, max_upload_bytes: int) -> list[Route]:
    from engine.idempotency import IdempotencyIndex

    idempotency = IdempotencyIndex(batches.settings.store)
    uploads = Path(batches.settings.store) / "uploads"

    @api_endpoint
    async def upload(request: Request):
        owner = auth.owner_of(request)
        boundary = boundary_of(request.headers.get("content-type", ""))
        target = UploadTarget(uploads, max_upload_bytes, request.headers.get("idempotency-key") is not None)
        try:
            form = FormReader(boundary, target.open, max_fields=100, max_field_bytes=FORM_FIELD_LIMIT)
            async for chunk in request.stream():
                form.feed(chunk)
            form.finish()
            target.close()
            if target.path is None:
                raise InvalidRequest("the form has no 'file' part", field="file")
            operation, params, loader, controls = parse_form_fields(form.fields)
        except BaseException:
            target.remove()
            raise
        path, digest = target.path, target.digest
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
