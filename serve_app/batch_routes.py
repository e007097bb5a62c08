"""Routes of the async batch API: /api/batches and its sub-resources."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, request_response

from engine.errors import InvalidRequest
from engine.models import BatchList, controls_of, items_count_error, parse_batch_request
from serve_app.auth import Authenticator
from serve_app.batch_create import BatchCreation
from serve_app.endpoint import api_endpoint, chunks_in_thread, read_json
from serve_app.limits import BodyLimit

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


def batch_routes(creation: BatchCreation, auth: Authenticator, max_body_bytes: int) -> list[Route]:
    from engine.batch.output import item_frames
    from engine.batch.service import items_frame

    batches = creation.batches

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
        return await creation.create(request, owner, validated.operation, validated, frames, raw, "api",
                                     controls_of(validated))

    @api_endpoint
    async def list_batches(request: Request):
        owner = auth.owner_of(request)
        limit = query_int(request, "limit", 100)
        listed = BatchList(batches=await asyncio.to_thread(batches.list, owner, limit))
        return JSONResponse(listed.model_dump(mode="json"))

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
        return StreamingResponse(chunks_in_thread(chunks), media_type=MEDIA_TYPES[fmt], headers=headers)

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
