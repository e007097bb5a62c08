"""The one error tree of AgentFlow.

    AgentFlowError                  code, message
    ├── InvalidRequest              the caller's mistake (HTTP 4xx); names the field
    │   ├── PayloadTooLarge         413: too many items, too many bytes
    │   ├── NotFound                404: unknown batch (or another tenant's)
    │   ├── Conflict                409: the batch is in the wrong state
    │   └── Unauthorized            401: missing or wrong API key
    ├── ConfigurationError          400: unknown provider, missing provider key
    ├── ProviderError               the provider failed this call
    │   ├── RateLimited             429, with the provider's retry-after
    │   ├── ProviderHTTPError       any other non-2xx answer
    │   │   └── RequestRefused      the provider refused the request body itself (never retried)
    │   ├── ProviderTimeout         no answer within the timeout
    │   ├── ProviderConnectionError the connection failed or was reset
    │   └── ProviderUnavailable     not called: its circuit is open (engine/provider/fallback.py)
    └── OutputParseError            the answer is not valid for the schema

Foreign exceptions (httpx, json, pydantic) are translated into this tree at one
boundary each: `client.py` for transport, `exchange.py` for parsing, and
`invalid_request_of` here for a pydantic ValidationError of the caller's input
(shared by the SDK and the HTTP service).

Every class defines `__reduce__`: Ray pickles exceptions across processes, and
one whose `__init__` takes extra arguments otherwise arrives as
`UnserializableException`.
"""

from __future__ import annotations


class AgentFlowError(Exception):
    """Base of every error AgentFlow raises on purpose; `field` is the dotted path of the input at fault."""

    code = "internal_error"
    status_code = 500
    details: list[dict] | None = None  # every invalid field, when there are several

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __reduce__(self):
        return (type(self), (self.message, self.field))

    def to_dict(self) -> dict:
        out = {"type": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
            if self.status_code == 422:  # every invalid field listed, as for pydantic's errors
                out["details"] = self.details or [{"field": self.field, "message": self.message}]
        return out


class InvalidRequest(AgentFlowError):
    """The request is wrong; `details` lists every invalid field ({field, message}) when known."""

    code = "invalid_request"
    status_code = 422

    def __init__(self, message: str, field: str | None = None, details: list[dict] | None = None):
        super().__init__(message, field)
        self.details = details

    def __reduce__(self):
        return (type(self), (self.message, self.field, self.details))


class BadRequest(InvalidRequest):
    code = "bad_request"
    status_code = 400


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"
    status_code = 413


class NotFound(InvalidRequest):
    code = "not_found"
    status_code = 404


class Conflict(InvalidRequest):
    code = "conflict"
    status_code = 409


class Unauthorized(InvalidRequest):
    code = "unauthorized"
    status_code = 401


class ConfigurationError(AgentFlowError):
    """The service cannot serve this model: unknown provider, missing key."""

    code = "configuration_error"
    status_code = 400


class ProviderError(AgentFlowError):
    code = "provider_error"
    status_code = 502


class RateLimited(ProviderError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self):
        return (type(self), (self.message, self.retry_after))


class ProviderHTTPError(ProviderError):
    code = "provider_http_error"

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status

    def __reduce__(self):
        return (type(self), (self.message, self.status))


class RequestRefused(ProviderHTTPError):
    """The provider refused the request itself: a 400/422, or a 5xx saying the body is invalid.

    Sent again, it is refused again, so it is not retried. `detail` is the
    provider's own words, `part` the request field they name (response_format...).
    """

    def __init__(self, detail: str, status: int, part: str | None = None, provider: str | None = None):
        what = f"the request's {part}" if part else "the request"
        who = f"provider {provider!r}" if provider else "the provider"
        super().__init__(f"{who} refused {what} ({status}): {detail}", status)
        self.detail = detail
        self.part = part
        self.provider = provider

    def __reduce__(self):
        return (type(self), (self.detail, self.status, self.part, self.provider))

    def naming(self, provider: str) -> "RequestRefused":
        """The same refusal, its message naming the provider."""
        return RequestRefused(self.detail, self.status, self.part, provider)


class ProviderTimeout(ProviderError):
    code = "provider_timeout"


class ProviderConnectionError(ProviderError):
    code = "provider_connection_error"


class ProviderUnavailable(ProviderError):
    """The provider was not called: it is out (its circuit is open), and the item goes to a fallback."""

    code = "provider_unavailable"


class OutputParseError(AgentFlowError):
    """The model's answer failed parsing or schema validation.

    `raw` is the completion text, `errors` the reasons; the caller asks again
    with them attached (bounded), then gives up with the last ones.
    """

    code = "output_parse_error"
    status_code = 502

    def __init__(self, message: str, raw: str = "", errors: tuple[str, ...] = ()):
        super().__init__(message)
        self.raw = raw
        self.errors = tuple(errors)

    def __reduce__(self):
        return (type(self), (self.message, self.raw, self.errors))


MAX_DETAILS = 50  # invalid fields listed in one error


def invalid_request_of(exc, prefix: str = "") -> InvalidRequest:
    """A pydantic `ValidationError` as an `InvalidRequest` naming the first bad field (dotted, after `prefix`).

    Duck-typed on `exc.errors()`, so this bottom module needs no pydantic import.
    """
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}{location}" if location else prefix.rstrip(".") or "body"
        details.append({"field": field, "message": error["msg"]})
    first = details[0] if details else {"field": "body", "message": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return InvalidRequest(f"{first['field']}: {first['message']}{more}", field=first["field"],
                          details=details[:MAX_DETAILS] or None)


def is_outage(exc: BaseException) -> bool:
    """Whether the provider itself is out (down, failing, or rate-limiting without end): a fallback may answer."""
    if isinstance(exc, RequestRefused):
        return False
    if isinstance(exc, ProviderHTTPError):
        return exc.status >= 500
    return isinstance(exc, (RateLimited, ProviderTimeout, ProviderConnectionError, ProviderUnavailable))


def is_retryable(exc: BaseException) -> bool:
    """Whether the same call may succeed if made again."""
    if isinstance(exc, RequestRefused):
        return False
    if isinstance(exc, ProviderHTTPError):
        return exc.status >= 500 or exc.status in (408, 409)
    return isinstance(exc, (RateLimited, ProviderTimeout, ProviderConnectionError, OutputParseError))
