"""`create_app(service)`: the Starlette application of the HTTP API.

No Ray here: `starlette.testclient.TestClient` can test it against an
in-process `EngineService`. The Serve deployment wraps the same app.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, request_response

from engine.batch.orphans import QuietWatch
from engine.models import MAX_SYNC_ITEMS, SYNC_REQUESTS, items_count_error
from serve_app import errors
from serve_app.auth import Authenticator
from serve_app.batch_routes import batch_routes
from serve_app.dashboard import dashboard_routes
from serve_app.endpoint import api_endpoint, read_json
from serve_app.events import event_routes
from serve_app.file_routes import file_routes
from serve_app.limits import BodyLimit
from serve_app.openai_routes import openai_routes
from serve_app.openapi import openapi_document

SYNC_BODY_LIMIT = 64 * 1024 * 1024


def sync_route(service, auth: Authenticator, operation: str) -> Route:
    model = SYNC_REQUESTS[operation]

    @api_endpoint
    async def handler(request: Request):
        auth.owner_of(request)
        body = await read_json(request)
        count_error = items_count_error(body, MAX_SYNC_ITEMS, "submit larger sets to POST /api/batches")
        if count_error:
            raise count_error
        request_model = model.model_validate(body)
        return JSONResponse(await service.run_sync(operation, request_model))

    limited = BodyLimit(request_response(handler), SYNC_BODY_LIMIT)
    return Route(f"/api/completions/{operation}", limited, methods=["POST"], name=f"completions_{operation}")


WATCHDOG_SECONDS = 5.0


def _lifespan(batches):
    """Keep every unfinished batch driven: after a crash (of a coordinator, of the service, of a
    driver script's embedded Ray) its batches resume here once their coordinators are seen gone."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(_watchdog(batches)) if batches else None
        yield
        if task:
            task.cancel()

    return lifespan


async def _watchdog(batches) -> None:
    watch = QuietWatch()
    while True:
        try:
            for batch_id in await asyncio.to_thread(batches.orphans, watch):
                batches.runner.launch(batch_id)
            await asyncio.to_thread(batches.delete_expired)
        except Exception as exc:  # noqa: BLE001 - the watchdog must outlive a bad batch
            errors.log.warning("batch watchdog: %s", type(exc).__name__)
        await asyncio.sleep(WATCHDOG_SECONDS)


def create_app(service, batches=None) -> Starlette:
    """The API over `service` (an `EngineService`) and `batches` (a `BatchService`)."""
    auth = Authenticator(service.settings.api_keys)

    async def healthz(request: Request):
        return JSONResponse({"status": "ok"})

    document = openapi_document()

    async def openapi(request: Request):
        return JSONResponse(document)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *(sync_route(service, auth, op) for op in SYNC_REQUESTS),
        *(batch_routes(batches, auth, service.settings.max_body_bytes) if batches else []),
        *(event_routes(batches, auth) if batches else []),
        *(file_routes(batches, auth, service.settings.max_upload_bytes) if batches else []),
        *(openai_routes(batches, auth) if batches else []),
        *dashboard_routes(),  # last, so the API's routes win
    ]
    app = Starlette(routes=routes, exception_handlers=errors.HANDLERS, lifespan=_lifespan(batches))
    app.state.service = service
    app.state.batches = batches
    app.state.auth = auth
    return app
