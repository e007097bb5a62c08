"""Making a batch over HTTP, the one path of POST /api/batches and POST /api/files.

A dry run answers its estimate; otherwise the batch is stored once per
Idempotency-Key (engine.batch.idempotency) and launched. The answers are built
through `BatchCreated` and `DryRunEstimate`, the models OpenAPI documents.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.batch.idempotency import IdempotencyIndex
from engine.errors import NotFound
from engine.models import BatchControls, BatchCreated, OperationParams
from engine.store.batch_store import new_batch_id

if TYPE_CHECKING:
    from engine.batch.service import BatchService

EXISTING_POLLS, EXISTING_POLL_SECONDS = 100, 0.1  # how long to wait for a batch another request is creating


class BatchCreation:
    """Creates batches from validated requests, honouring the Idempotency-Key header."""

    def __init__(self, batches: "BatchService"):
        self.batches = batches
        self.idempotency = IdempotencyIndex(batches.settings.store, batches.store.exists)

    async def create(self, request: Request, owner: str, operation: str, params: OperationParams, frames,
                     key_body: bytes, source: str, controls: BatchControls) -> Response:
        """201 with the new batch, or 200 with the one this Idempotency-Key already made (or the dry run)."""
        if controls.dry_run:
            return JSONResponse(await asyncio.to_thread(self.batches.estimate, operation, params, frames))

        def store() -> dict:
            return self.batches.create(batch_id, operation, params, frames, owner, source, controls)

        batch_id, key = new_batch_id(), request.headers.get("idempotency-key")
        holder, created = await asyncio.to_thread(self.idempotency.create_once, owner, key, batch_id, key_body, store)
        if created is None:
            return JSONResponse(await self._existing(holder, owner), status_code=200)
        self.batches.runner.launch(batch_id)
        return JSONResponse(created, status_code=201)

    async def _existing(self, batch_id: str, owner: str) -> dict:
        """The batch holding the key; the first submission with it may still be writing its input."""
        for _ in range(EXISTING_POLLS):
            try:
                status = await asyncio.to_thread(self.batches.status, batch_id, owner)
            except NotFound:
                await asyncio.sleep(EXISTING_POLL_SECONDS)
                continue
            return BatchCreated.model_validate(status).model_dump(mode="json")
        raise NotFound(f"the batch for this Idempotency-Key is still being created: {batch_id}",
                       field="Idempotency-Key")
