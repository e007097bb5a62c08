"""POST /api/files: a multipart upload becomes an async batch.

The body limit (serve_app.limits.BodyLimit) is enforced on the bytes as
they arrive, so an oversize upload gets 413 without being read whole. The
file part streams to a temporary file (serve_app.upload_form); once the body
is whole, the loaders read that file once, streaming, into the store's input
parts, and the batch is made as POST /api/batches makes it
(serve_app.batch_create).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.routing import Route, request_response

from serve_app.auth import Authenticator
from serve_app.batch_create import BatchCreation
from serve_app.endpoint import api_endpoint
from serve_app.limits import BodyLimit
from serve_app.upload_form import UploadForm

FORM_OVERHEAD = 256 * 1024  # the text fields and multipart framing around the file


def file_routes(creation: BatchCreation, auth: Authenticator, max_upload_bytes: int) -> list[Route]:
    uploads = Path(creation.batches.settings.store) / "uploads"

    @api_endpoint
    async def upload(request: Request):
        from loaders import read_items

        owner = auth.owner_of(request)
        with_key = request.headers.get("idempotency-key") is not None
        form = UploadForm(request.headers.get("content-type", ""), uploads, max_upload_bytes, with_key)
        try:
            async for chunk in request.stream():
                form.feed(chunk)
            upload = form.finish()
            # In a thread: without a format or an extension, read_items sniffs the file's first bytes.
            frames = await asyncio.to_thread(read_items, upload.path, upload.format, **upload.columns)
            return await creation.create(request, owner, upload.operation, upload.params, frames, upload.key_body,
                                         "file", upload.controls)
        finally:
            form.remove()

    limit = BodyLimit(request_response(upload), max_upload_bytes + FORM_OVERHEAD)
    return [Route("/api/files", limit, methods=["POST"])]
