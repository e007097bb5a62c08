"""A per-route request body limit that answers 413 in the API's JSON error shape.

Plain ASGI (no BaseHTTPMiddleware, which would turn the limit into a 500). The
declared Content-Length is checked first; the bytes actually received are
counted too, so a chunked or lying upload is stopped as it streams.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import PayloadTooLarge


def too_large_response(limit: int) -> JSONResponse:
    error = PayloadTooLarge(f"the request body is larger than {limit:,} bytes", field="body")
    return JSONResponse({"error": error.to_dict()}, status_code=413)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await too_large_response(self.max_bytes)(scope, receive, send)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(f"the request body is larger than {self.max_bytes:,} bytes", field="body")
            return message

        await self.app(scope, counting_receive, send)
