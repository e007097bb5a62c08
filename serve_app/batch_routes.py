"""Routes of the async batch API: /api/batches and its sub-resources."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, request_response

from engine.batch.idempotency import IdempotencyIndex
from engine.errors import InvalidRequest, NotFound
from engine.models import (
    BatchControls,
    controls_of,
    items_count_error,
    parse_batch_request,
)
from serve_app.auth import Authenticator
from serve_app.endpoint import api_endpoint, read_json
from serve_app.limits import BodyLimit

if TYPE_CHECKING:
    from engine.batch.service import BatchService

MEDIA_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8",
               "parquet": "application/vnd.apache.parquet"}


def query_int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, got {raw!r}", field=name) from None


def query_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name} must be true or false, got {raw!r}", field=name)
    return raw.lower() in ("true", "1")


async def create_batch(batches: "BatchService", idempotency: IdempotencyIndex, request: Request, owner: str,
                       operation: str, validated, frames, body_for_key: bytes, source: str,
                       controls: BatchControls) -> Response:
    """Store a batch (or return the one an Idempotency-Key already made) and launch it."""
    from engine.store.batch_store import new_batch_id

    if controls.dry_run:
        return JSONResponse(await asyncio.to_thread(batches.estimate, operation, validated, frames))

    batch_id = new_batch_id()
    key = request.headers.get("idempotency-key")
    if key is not None:
        holder = await asyncio.to_thread(idempotency.claim, owner, key, batch_id, body_for_key)
        if holder != batch_id:
            return JSONResponse(await _await_existing(batches, holder, owner), status_code=200)
    try:
        created = await asyncio.to_thread(batches.create, batch_id, operation, validated, frames, owner, source,
                                          controls)
    except BaseException:
        if key is not None:
            idempotency.release(owner, key)
        raise
    if key is not None:
        await asyncio.to_thread(idempotency.created, owner, key, batch_id)
    batches.runner.launch(batch_id)
    return JSONResponse(created, status_code=201)


async def _await_existing(batches: "BatchService", batch_id: str, owner: str) -> dict:
    """The first submission with this key may still be writing its input."""
    for _ in range(100):
        try:
            status = await asyncio.to_thread(batches.status, batch_id, owner)
            return {"batch_id": batch_id, "status": status["status"], "total_items": status["total_items"]}
        except NotFound:
            await asyncio.sleep(0.1)
    raise NotFound(f"the batch for this Idempotency-Key is still being created: {batch_id}", field="Idempotency-Key")


def batch_routes(batches: "BatchService", auth: Authenticator, max_body_bytes: int) -> list[Route]:
    from engine.batch.output import item_frames
    from engine.batch.service import items_frame

    idempotency = IdempotencyIndex(batches.settings.store, batches.store.exists)

    @api_endpoint
    async def submit(request: Request):
        owner = auth.owner_of(request)
        raw = await request.body()
        body = await read_json(request)
        count_error = items_count_error(body)
        if count_error:
            raise count_error
        validated = parse_batch_request(body)
        frames = item_frames(items_frame(validated.items), validated.items)
        return await create_batch(batches, idempotency, request, owner, validated.operation, validated,
                                  frames, raw, "api", controls_of(validated))

    @api_endpoint
    async def list_batches(request: Request):
        owner = auth.owner_of(request)
        limit = query_int(request, "limit", 100)
        return JSONResponse({"batches": await asyncio.to_thread(batches.list, owner, limit)})

    @api_endpoint
    async def status(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(batches.status, request.path_params["batch_id"], owner))

    @api_endpoint
    async def cancel(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(batches.cancel, request.path_params["batch_id"], owner))

    @api_endpoint
    async def retry(request: Request):
        owner = auth.owner_of(request)
        status = await asyncio.to_thread(batches.retry_prepare, request.path_params["batch_id"], owner)
        batches.runner.launch(status["batch_id"])
        return JSONResponse(status)

    @api_endpoint
    async def output(request: Request):
        owner = auth.owner_of(request)
        fmt = request.query_params.get("format", "json")
        offset = query_int(request, "offset", 0)
        limit = query_int(request, "limit", None)
        include_input = query_bool(request, "include_input", True)
        batch_id = request.path_params["batch_id"]
        chunks = await asyncio.to_thread(batches.output, batch_id, owner, fmt, offset, limit, include_input)
        headers = {"content-disposition": f'attachment; filename="{batch_id}.{fmt}"'} if fmt != "json" else {}
        return StreamingResponse(_in_thread(chunks), media_type=MEDIA_TYPES[fmt], headers=headers)

    @api_endpoint
    async def summary(request: Request):
        owner = auth.owner_of(request)
        return JSONResponse(await asyncio.to_thread(batches.summary, request.path_params["batch_id"], owner))

    return [
        Route("/api/batches", BodyLimit(request_response(submit), max_body_bytes), methods=["POST"]),
        Route("/api/batches", list_batches, methods=["GET"]),
        Route("/api/batches/{batch_id}", status, methods=["GET"]),
        Route("/api/batches/{batch_id}/output", output, methods=["GET"]),
        Route("/api/batches/{batch_id}/summary", summary, methods=["GET"]),
        Route("/api/batches/{batch_id}/cancel", cancel, methods=["POST"]),
        Route("/api/batches/{batch_id}/retry", retry, methods=["POST"]),
    ]


async def _in_thread(chunks):
    """Produce the export's chunks off the event loop (reading Parquet, formatting)."""
    iterator = iter(chunks)
    while True:
        chunk = await asyncio.to_thread(next, iterator, None)
        if chunk is None:
            return
        yield chunk
