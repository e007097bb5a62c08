"""Exceptions -> JSON error responses. No traceback ever reaches a client."""

from __future__ import annotations

import logging
import uuid

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.errors import AgentFlowError

log = logging.getLogger("agentflow.http")


def error_response(status: int, type_: str, message: str, **extra) -> JSONResponse:
    body = {"type": type_, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": body}, status_code=status)


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict]:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        details.append({"field": f"{prefix}{location}" if location else prefix.rstrip(".") or "body",
                        "message": error["msg"]})
    return details


def validation_response(exc: ValidationError, prefix: str = "") -> JSONResponse:
    details = validation_details(exc, prefix)
    first = details[0] if details else {"field": "body", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return error_response(422, "invalid_request", message, field=first["field"], details=details[:50])


async def handle_agentflow_error(request: Request, exc: AgentFlowError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)


async def handle_validation_error(request: Request, exc: ValidationError) -> JSONResponse:
    return validation_response(exc)


async def handle_http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    kinds = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return error_response(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail))


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    # The message and type go to the server log only; item content and keys never do.
    log.error("unexpected %s on %s %s (incident %s)", type(exc).__name__, request.method, request.url.path, incident)
    return error_response(500, "internal_error", f"internal error (incident {incident})")


HANDLERS = {
    AgentFlowError: handle_agentflow_error,
    ValidationError: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
