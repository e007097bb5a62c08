"""The OpenAI-compatible chat-completions client.

It takes its HTTP client in (`ProviderSession`: an aiohttp session with a
connection cap, opened lazily; a unit test points one at a loopback server)
and is the one place where transport exceptions become `engine.errors`.

aiohttp rather than httpx2 (the httpx API): measured with
benchmarks/http_clients.py against the simulator, aiohttp spent 0.24 ms of
CPU per request at 64 and 128 concurrent requests, httpx2 0.77 and 1.3 ms
(its connection pool scans every pooled socket on every request; anyio, h11
and its models add the rest). On a 2-core machine that was most of a caller's
CPU: a caller's whole per-item work fell from ~1.7 to ~0.4 ms.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import aiohttp

from engine.errors import (
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimited,
    RequestRefused,
)
from engine.limits import Limits


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    limits: Limits  # what the provider's x-ratelimit-limit-* headers said (None when absent)
    logprobs: list | None = None
    body: dict | None = None  # the whole answer, for a pass-through (`chat`) item


KEEPALIVE_SECONDS = 4.0


class ProviderSession:
    """An aiohttp session holding at most `max_connections`, opened in the loop that first uses it.

    aiohttp binds a session to the running event loop, and a caller is built
    before its loop runs (in an actor's `__init__`, a test's set-up).
    """

    def __init__(self, max_connections: int):
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Idle connections are dropped after 4 s, before servers' own keep-alive
            # timeouts (uvicorn's is 5 s) close them under a request being sent.
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections,
                                             keepalive_timeout=KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  timeout=aiohttp.ClientTimeout(total=60.0))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ChatClient:
    """POST {base_url}/chat/completions with bearer auth."""

    def __init__(self, http: ProviderSession, base_url: str, api_key: str | None):
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def complete(self, body: dict, timeout: float) -> Completion:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._http.session().post(self._url, data=data, headers=self._headers,
                                                 timeout=self._timeout(timeout)) as response:
                status, reason, headers = response.status, response.reason, response.headers
                payload = await response.read()
        except asyncio.TimeoutError:  # aiohttp's own timeouts subclass it
            raise ProviderTimeout(f"the provider did not answer within {timeout:g}s") from None
        except Exception as exc:  # noqa: BLE001
            # aiohttp.ClientError, OSError, and whatever else the transport throws:
            # to the caller, a failed connection to the provider.
            raise ProviderConnectionError(f"connection to the provider failed: {type(exc).__name__}") from None
        if status == 429:
            raise RateLimited(_error_message(payload, reason), retry_after=retry_after_seconds(headers))
        if status >= 400:
            raise _http_error(status, _error_message(payload, reason))
        return _completion(payload, status, headers)

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        if seconds not in self._timeouts:
            self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return self._timeouts[seconds]


# A refusal of the body: a 400/422, or (llama-cpp-python answers its request-validation errors
# with a 500) an answer in a validator's words. Sent again, it is refused again.
REFUSAL_STATUSES = (400, 422)
_REFUSAL_WORDS = re.compile(
    r"validation error|input should be|field required|extra inputs are not permitted"
    r"|unrecognized request argument|unexpected keyword argument|unknown field",
    re.IGNORECASE,
)
# The request fields a refusal may name (not "model" or "messages": words of any message).
_REQUEST_PARTS = ("response_format", "structured_outputs", "guided_json", "logprobs", "max_tokens", "temperature")


def _http_error(status: int, message: str) -> ProviderHTTPError:
    if status in REFUSAL_STATUSES or (status >= 500 and _REFUSAL_WORDS.search(message)):
        part = next((name for name in _REQUEST_PARTS if re.search(rf"\b{name}\b", message)), None)
        return RequestRefused(message, status, part)
    return ProviderHTTPError(f"provider answered {status}: {message}", status)


def _completion(payload: bytes, status: int, headers) -> Completion:
    try:
        data = json.loads(payload)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        content = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ProviderHTTPError("the provider's answer is not a chat completion", status) from None
    logprobs = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    return Completion(
        content=content,
        model=str(data.get("model", "")),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        limits=limits_from_headers(headers),
        logprobs=logprobs,
        body=data,
    )


def _error_message(payload: bytes, reason: str | None) -> str:
    try:
        return str(json.loads(payload)["error"]["message"])[:500]
    except (ValueError, KeyError, TypeError):
        return payload[:200].decode("utf-8", "replace") or (reason or "")


def retry_after_seconds(headers) -> float | None:
    """`retry-after-ms` (OpenAI) or `retry-after` in seconds; None when absent."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def limits_from_headers(headers) -> Limits:
    return Limits(_number(headers.get("x-ratelimit-limit-requests")), _number(headers.get("x-ratelimit-limit-tokens")))


def _number(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
