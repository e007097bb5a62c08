"""GET /api/batches/{batch_id}/events: a batch's progress as server-sent events.

    event: progress            whenever the status changes (checked every 0.5 s)
    data: {...}                the same JSON as GET /api/batches/{batch_id}

    : keep-alive               a comment after 15 s without an event, so proxies keep the line open

    event: end                 once the batch is completed, failed or cancelled; then the stream closes
    data: {...}

    event: error               only if the batch can no longer be read (then the stream closes)
    data: {"error": {"type": ..., "message": ...}}

The owner check and the 404 for an unknown batch happen before the stream
starts, so they are ordinary JSON error answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from engine.errors import AgentFlowError
from engine.models import FINISHED_STATES
from serve_app.auth import Authenticator
from serve_app.endpoint import api_endpoint

if TYPE_CHECKING:
    from engine.batch.service import BatchService

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}  # no buffering in nginx-like proxies


def sse(event: str, data: dict) -> bytes:
    """One server-sent event (the JSON is on a single line, so one data field suffices)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def status_events(read_status, first: dict, poll_seconds: float = POLL_SECONDS,
                        keepalive_seconds: float = KEEPALIVE_SECONDS) -> AsyncIterator[bytes]:
    """`progress` on every change of `read_status()`, keep-alives in between, `end` when terminal."""
    status, sent = first, None
    quiet_since = time.monotonic()
    while True:
        if status != sent:
            yield sse("progress", status)
            sent, quiet_since = status, time.monotonic()
        if status["status"] in FINISHED_STATES:
            yield sse("end", status)
            return
        if time.monotonic() - quiet_since >= keepalive_seconds:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll_seconds)
        try:
            status = await asyncio.to_thread(read_status)
        except AgentFlowError as exc:  # e.g. the batch expired and was removed meanwhile
            yield sse("error", {"error": exc.to_dict()})
            return


def event_routes(batches: "BatchService", auth: Authenticator, poll_seconds: float = POLL_SECONDS,
                 keepalive_seconds: float = KEEPALIVE_SECONDS) -> list[Route]:
    """The events route over `batches`, with the same auth and owner check as the other batch routes."""

    @api_endpoint
    async def events(request: Request):
        owner = auth.owner_of(request)
        batch_id = request.path_params["batch_id"]
        first = await asyncio.to_thread(batches.status, batch_id, owner)  # NotFound -> a 404 before streaming

        def read_status() -> dict:
            return batches.status(batch_id, owner)

        stream = status_events(read_status, first, poll_seconds, keepalive_seconds)
        return StreamingResponse(stream, media_type="text/event-stream", headers=HEADERS)

    return [Route("/api/batches/{batch_id}/events", events, methods=["GET"])]
