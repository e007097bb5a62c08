"""Endpoint plumbing shared by the route modules: JSON bodies and error mapping."""

from __future__ import annotations

import asyncio
import functools
import json

from starlette.requests import Request

from engine.errors import BadRequest
from serve_app.errors import error_response


async def read_json(request: Request) -> object:
    body = await request.body()
    if not body:
        raise BadRequest("the request body is empty; send a JSON object", field="body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="body") from None


def api_endpoint(handler):
    """Map every failure to a JSON error (serve_app.errors); a traceback never leaves the server."""

    @functools.wraps(handler)
    async def endpoint(request: Request):
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            return error_response(request, exc)

    return endpoint


async def chunks_in_thread(chunks):
    """A response body's chunks, each produced off the event loop (reading Parquet or a file, formatting)."""
    iterator = iter(chunks)
    while True:
        chunk = await asyncio.to_thread(next, iterator, None)
        if chunk is None:
            return
        yield chunk
