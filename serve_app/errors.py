"""Exceptions -> JSON error responses, in one place. No traceback ever reaches a client.

`error_response` maps every exception: ours by their own status and type, a
pydantic ValidationError through `engine.errors.invalid_request_of`, Starlette's
HTTPException (404, 405, ...) by its status, anything else to a 500 logged here
once with its traceback. Every body is built through `ErrorResponse`, the model
OpenAPI documents.
"""

from __future__ import annotations

import logging
import uuid

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.errors import AgentFlowError, invalid_request_of
from engine.models import ErrorResponse

log = logging.getLogger("agentflow.http")

HTTP_KINDS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def json_error(status: int, body: dict) -> JSONResponse:
    """`{"error": body}`, validated and serialised by `ErrorResponse`."""
    return JSONResponse(ErrorResponse(error=body).model_dump(mode="json"), status_code=status)


def error_response(request: Request, exc: Exception, *, log_unexpected: bool = True) -> JSONResponse:
    """The JSON answer for `exc`, raised while serving `request`."""
    if isinstance(exc, ValidationError):
        exc = invalid_request_of(exc)
    if isinstance(exc, AgentFlowError):
        return json_error(exc.status_code, exc.to_dict())
    if isinstance(exc, HTTPException):
        kind = HTTP_KINDS.get(exc.status_code, "http_error")
        return json_error(exc.status_code, {"type": kind, "message": str(exc.detail)})
    incident = uuid.uuid4().hex[:12]
    if log_unexpected:
        # The traceback is for us; the request's body and headers (item content, keys) are not logged.
        log.error("unexpected %s on %s %s (incident %s)", type(exc).__name__, request.method, request.url.path,
                  incident, exc_info=exc)
    return json_error(500, {"type": "internal_error", "message": f"internal error (incident {incident})"})


async def handle_exception(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, exc)


async def handle_server_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette raises the exception on to the server after this answer, and the server
    # logs it with its traceback: logging here too would log it twice.
    return error_response(request, exc, log_unexpected=False)


# For the routes outside `api_endpoint` (the dashboard, Starlette's own 404 and 405).
HANDLERS = {
    AgentFlowError: handle_exception,
    ValidationError: handle_exception,
    HTTPException: handle_exception,
    Exception: handle_server_error,
}
