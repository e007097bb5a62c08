"""Endpoint plumbing shared by the route modules: JSON bodies and error mapping."""

from __future__ import annotations

import functools
import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.errors import AgentFlowError, BadRequest
from serve_app import errors


async def read_json(request: Request) -> object:
    body = await request.body()
    if not body:
        raise BadRequest("the request body is empty; send a JSON object", field="body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="body") from None


def api_endpoint(handler):
    """Map every failure to a JSON error; a traceback never leaves the server."""

    @functools.wraps(handler)
    async def endpoint(request: Request):
        try:
            return await handler(request)
        except AgentFlowError as exc:
            return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)
        except ValidationError as exc:
            return errors.validation_response(exc)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            return await errors.handle_unexpected(request, exc)

    return endpoint
