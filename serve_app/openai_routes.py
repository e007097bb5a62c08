"""The OpenAI-compatible Batch API: `/v1/batches` here, `/v1/files` in serve_app.openai_files.

The official `openai` SDK runs against it unchanged (`OpenAI(base_url=<service>/v1, api_key=<AgentFlow key>)`).
The same API keys as `/api` (`Authorization: Bearer`); another tenant's files and batches are 404.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, request_response

from engine.errors import NotFound
from serve_app.auth import Authenticator
from serve_app.batch_create import BatchCreation
from serve_app.endpoint import api_endpoint, read_json
from serve_app.limits import BodyLimit
from serve_app.openai_files import file_routes, query_int

BATCH_BODY_LIMIT = 64 * 1024


def openai_routes(creation: BatchCreation, auth: Authenticator) -> list[Route]:
    """Every /v1 route, over `creation.batches` (a `BatchService`) and the store's uploaded files."""
    from engine.batch.openai_batches import OpenAIBatches
    from engine.store.uploaded_files import UploadedFiles

    batches = creation.batches
    openai = OpenAIBatches(batches, UploadedFiles(batches.settings.store, batches.settings.retention_days))
    return [*file_routes(openai, auth), *batch_routes(openai, creation, auth)]


def batch_routes(openai, creation: BatchCreation, auth: Authenticator) -> list[Route]:
    from engine.store.batch_store import new_batch_id

    batches = openai.batches

    async def create_once(request: Request, owner: str, body) -> dict:
        """Create the batch, or return the one an Idempotency-Key already made (the one path of /api too)."""
        batch_id, key = new_batch_id(), request.headers.get("idempotency-key")

        def create() -> dict:
            return openai.create(batch_id, owner, body)

        holder, batch = await asyncio.to_thread(creation.idempotency.create_once, owner, key, batch_id,
                                                await request.body(), create)
        if batch is None:
            return await _existing(openai, holder, owner)
        if batch["status"] != "failed":
            batches.runner.launch(batch_id)
        return batch

    @api_endpoint
    async def create(request: Request):
        owner = auth.owner_of(request)
        body = await read_json(request)
        return JSONResponse(await create_once(request, owner, body))

    @api_endpoint
    async def list_batches(request: Request):
        owner = auth.owner_of(request)
        after, limit = request.query_params.get("after"), query_int(request, "limit", 20)
        return JSONResponse(await asyncio.to_thread(openai.list, owner, after, limit))

    @api_endpoint
    async def retrieve(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(openai.retrieve, request.path_params["batch_id"], owner))

    @api_endpoint
    async def cancel(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(openai.cancel, request.path_params["batch_id"], owner))

    return [
        Route("/v1/batches", BodyLimit(request_response(create), BATCH_BODY_LIMIT), methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", retrieve, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", cancel, methods=["POST"]),
    ]


async def _existing(openai, batch_id: str, owner: str) -> dict:
    """The first request with this key may still be checking its file."""
    for _ in range(600):
        try:
            return await asyncio.to_thread(openai.retrieve, batch_id, owner)
        except NotFound:
            await asyncio.sleep(0.1)
    raise NotFound(f"the batch for this Idempotency-Key is still being created: {batch_id}", field="Idempotency-Key")
