"""The OpenAI-compatible chat-completions client.

It takes its HTTP client in (so a unit test hands it `httpx2.MockTransport`)
and is the one place where transport exceptions become `engine.errors`.

httpx2 rather than httpx 0.28: measured here, one httpx 0.28 AsyncClient at 64
concurrent requests spent ~11 ms of CPU per request in connection-pool
housekeeping; httpx2 (same API) does not (see benchmarks/http_clients.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2 as httpx

from engine.errors import ProviderConnectionError, ProviderHTTPError, ProviderTimeout, RateLimited
from engine.ratelimit import Limits


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    limits: Limits  # what the provider's x-ratelimit-limit-* headers said (None when absent)
    logprobs: list | None = None


class ChatClient:
    """POST {base_url}/chat/completions with bearer auth."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None):
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, body: dict, timeout: float) -> Completion:
        try:
            response = await self._http.post(self._url, json=body, headers=self._headers, timeout=timeout)
        except httpx.TimeoutException:
            raise ProviderTimeout(f"the provider did not answer within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise ProviderConnectionError(f"connection to the provider failed: {type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001
            # Seen here: a reset pooled connection raised AttributeError from inside anyio.
            # Whatever the transport throws is a failed connection to the caller.
            raise ProviderConnectionError(f"connection to the provider failed: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise RateLimited(_error_message(response), retry_after=retry_after_seconds(response.headers))
        if response.status_code >= 400:
            raise ProviderHTTPError(
                f"provider answered {response.status_code}: {_error_message(response)}", response.status_code
            )
        return _completion(response)


def _completion(response: httpx.Response) -> Completion:
    try:
        data = response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        content = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ProviderHTTPError("the provider's answer is not a chat completion", response.status_code) from None
    logprobs = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    return Completion(
        content=content,
        model=str(data.get("model", "")),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        limits=limits_from_headers(response.headers),
        logprobs=logprobs,
    )


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
        return str(message)[:500]
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


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


CONNECTIONS_PER_CLIENT = 32


class ClientShards:
    """Several small AsyncClients used in turn, with the `post` of one.

    httpcore's pool checks every one of its connections on every request
    (`has_expired` reads each socket), so one client with hundreds of
    connections spends more CPU per request the more it has; measured here
    this was most of a caller's CPU at 256 connections.
    """

    def __init__(self, clients: list[httpx.AsyncClient]):
        self._clients = clients
        self._next = 0

    async def post(self, *args, **kwargs) -> httpx.Response:
        client = self._clients[self._next % len(self._clients)]
        self._next += 1
        return await client.post(*args, **kwargs)


def new_http_client(max_connections: int) -> ClientShards:
    shards = max(1, -(-max_connections // CONNECTIONS_PER_CLIENT))
    per_shard = -(-max_connections // shards)
    limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
    return ClientShards([httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0), trust_env=False)
                         for _ in range(shards)])
