"""ChatClient and Caller against a scripted provider on a loopback port (no Ray).

The provider is a bare aiohttp server answering from a script, so every call
crosses the real HTTP client: status codes, headers, timeouts and dropped
connections are the transport's own, translated at the client's boundary.
"""

import asyncio
import json
import logging
import random
import socket

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from engine.config import ProviderConfig
from engine.errors import (
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimited,
)
from engine.limits import Limits
from engine.models import LabelParams
from engine.prompt.operations import prepare
from engine.provider.caller import Caller, RetryPolicy
from engine.provider.client import ChatClient, ProviderSession
from engine.provider.leases import Lease, LocalLimiterBackend
from engine.target import Target

PLAN = prepare("label", LabelParams(categories=["a", "b"]))
HANG = "hang"  # the provider does not answer (longer than any timeout used here)
DROP = "drop"  # the provider closes the connection without answering


def reply(status=200, body=None, text=None, headers=None):
    return status, (json.dumps(body) if body is not None else text or ""), headers or {}


def completion(content, headers=None):
    body = {"model": "gpt-4.1-mini", "choices": [{"message": {"content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    return reply(200, body, headers=headers)


class ScriptedProvider:
    """Answers POSTs with the scripted replies in turn (the last one repeats); records the bodies."""

    def __init__(self):
        self.seen: list[dict] = []
        self.authorization: list[str | None] = []
        self._answers: list = []
        self.delay = 0.0  # seconds before each answer
        self.in_flight = self.peak_in_flight = 0
        self.server = RawTestServer(self._handle)

    def script(self, *answers) -> "ScriptedProvider":
        self._answers, self.seen = list(answers), []
        return self

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("/v1"))

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        self.seen.append(json.loads(await request.read()))
        self.authorization.append(request.headers.get("authorization"))
        answer = self._answers[min(len(self.seen), len(self._answers)) - 1]
        await asyncio.sleep(self.delay)
        if answer == HANG:
            await asyncio.sleep(30)
        if answer == DROP:
            request.transport.abort()
            await asyncio.sleep(1)
        status, text, headers = answer
        return web.Response(status=status, text=text, headers=headers, content_type="application/json")


@pytest.fixture
async def provider():
    scripted = ScriptedProvider()
    await scripted.server.start_server()
    yield scripted
    await scripted.server.close()


@pytest.fixture
async def http():
    client = ProviderSession(max_connections=8)
    yield client
    await client.close()


async def no_sleep(_):
    return None


def make_caller(http, provider, slots_for=None, **policy):
    client = ChatClient(http, provider.base_url, "k")
    backend = LocalLimiterBackend(Limits())
    backend.limiter.confirm_unlimited()  # no probing: these tests are about retries
    lease = Lease(backend, sleep=no_sleep)
    return Caller(lambda p: client, lambda p: lease, RetryPolicy(**policy), concurrency=8,
                  rng=random.Random(1), sleep=no_sleep, slots_for=slots_for)


def target(provider) -> Target:
    return Target(ProviderConfig(name="openai", base_url=provider.base_url, api_key="k"), "gpt-4.1-mini")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_client_translates_errors_at_its_boundary(http, provider):
    cases = [
        (reply(429, {"error": {"message": "slow"}}, headers={"retry-after-ms": "1500"}), RateLimited),
        (reply(503, text="down"), ProviderHTTPError),
        (HANG, ProviderTimeout),
        (DROP, ProviderConnectionError),
        (reply(200, text="not json"), ProviderHTTPError),
    ]
    client = ChatClient(http, provider.base_url, "k")
    for answer, expected in cases:
        provider.script(answer)
        with pytest.raises(expected) as info:
            await client.complete({"model": "m", "messages": []}, timeout=0.3)
        if expected is RateLimited:
            assert info.value.retry_after == 1.5 and info.value.message == "slow"
        if answer == reply(503, text="down"):
            assert info.value.status == 503 and "down" in info.value.message


async def test_a_refused_connection_is_a_connection_error(http):
    client = ChatClient(http, f"http://127.0.0.1:{closed_port()}/v1", "k")
    with pytest.raises(ProviderConnectionError):
        await client.complete({"model": "m", "messages": []}, timeout=2)


async def test_client_sends_json_with_bearer_auth_and_reads_usage_and_limit_headers(http, provider):
    provider.script(completion('{"x":1}', {"x-ratelimit-limit-requests": "3000", "x-ratelimit-limit-tokens": "90000"}))
    client = ChatClient(http, provider.base_url + "/", "k")
    result = await client.complete({"model": "m", "messages": [{"role": "user", "content": "héllo"}]}, timeout=1)
    assert (result.prompt_tokens, result.completion_tokens, result.content) == (10, 5, '{"x":1}')
    assert result.limits == Limits(3000, 90000)
    assert provider.seen == [{"model": "m", "messages": [{"role": "user", "content": "héllo"}]}]
    assert provider.authorization == ["Bearer k"]


async def test_transient_errors_are_retried_then_succeed(http, provider):
    provider.script(reply(500), DROP, completion('{"label": "a", "confidence": 0.9}'))
    outcome = await make_caller(http, provider).run_item(PLAN, target(provider), {"index": 0, "id": "x", "content": "c"})
    assert outcome.status == "completed"
    assert outcome.result == {"label": "a", "confidence": 0.9, "confidence_source": "self_reported"}
    assert (outcome.attempts, outcome.id, len(provider.seen)) == (3, "x", 3)


async def test_a_timed_out_call_is_retried(http, provider):
    provider.script(HANG, completion('{"label": "b", "confidence": 0.9}'))
    outcome = await make_caller(http, provider, timeout=0.3).run_item(PLAN, target(provider), {"index": 0, "content": "c"})
    assert outcome.status == "completed" and outcome.attempts == 2


async def test_invalid_answer_is_repaired_with_the_errors_attached(http, provider):
    provider.script(completion('{"label": "zzz", "confidence": 0.9}'), completion('{"label": "b", "confidence": 1}'))
    outcome = await make_caller(http, provider).run_item(PLAN, target(provider), {"index": 0, "content": "c"})
    assert outcome.status == "completed"
    assert "is not one of" in provider.seen[1]["messages"][-1]["content"]
    assert outcome.prompt_tokens == 20


async def test_persistent_failure_is_an_item_error_not_an_exception(http, provider):
    provider.script(completion("{truncated"))
    outcome = await make_caller(http, provider, max_repairs=2).run_item(PLAN, target(provider), {"index": 3, "content": "c"})
    assert outcome.status == "failed"
    assert outcome.error["type"] == "output_parse_error"
    assert "gave up after 3 attempts" in outcome.error["message"]
    assert outcome.index == 3 and len(provider.seen) == 3


async def test_client_errors_are_not_retried(http, provider):
    provider.script(reply(400, {"error": {"message": "bad model"}}))
    outcome = await make_caller(http, provider).run_item(PLAN, target(provider), {"index": 0, "content": "c"})
    assert outcome.error == {"type": "provider_http_error",
                            "message": "provider 'openai' refused the request (400): bad model"}
    assert len(provider.seen) == 1


async def test_rate_limited_calls_wait_and_retry_without_using_the_error_budget(http, provider):
    provider.script(*[reply(429, headers={"retry-after": "0"})] * 6, completion('{"label": "a", "confidence": 0.5}'))
    outcome = await make_caller(http, provider, max_retries=1).run_item(PLAN, target(provider), {"index": 0, "content": "c"})
    assert outcome.status == "completed" and outcome.attempts == 7


async def test_run_many_keeps_item_order(http, provider):
    provider.script(completion('{"label": "a", "confidence": 0.5}'))
    items = [{"index": i, "content": f"c{i}"} for i in range(20)]
    outcomes = await make_caller(http, provider).run_many(PLAN, target(provider), items)
    assert [o.index for o in outcomes] == list(range(20))


async def test_an_unexpected_exception_fails_only_its_item(http, provider):
    provider.script(completion('{"label": "a", "confidence": 0.5}'))
    context_plan = PLAN.__class__(**{**PLAN.__dict__, "include_context": True})
    # Metadata that cannot be rendered (not JSON-serialisable) breaks prompt building for this item only.
    items = [{"index": 0, "content": "ok"}, {"index": 1, "content": "ok", "metadata": {"x": object()}}]
    outcomes = await make_caller(http, provider).run_many(context_plan, target(provider), items)
    assert outcomes[0].status == "completed"
    assert outcomes[1].status == "failed" and outcomes[1].error == {
        "type": "internal_error", "message": "unexpected TypeError"}


async def test_an_unexpected_exception_is_logged_once_with_its_traceback_and_not_the_item(http, provider, caplog):
    provider.script(completion('{"label": "a", "confidence": 0.5}'))
    context_plan = PLAN.__class__(**{**PLAN.__dict__, "include_context": True})
    item = {"index": 7, "content": "private words", "metadata": {"x": object()}}
    with caplog.at_level(logging.ERROR, logger="agentflow.caller"):
        outcome = await make_caller(http, provider).run_item(context_plan, target(provider), item)
    assert outcome.status == "failed" and outcome.index == 7
    [record] = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is TypeError
    assert "private words" not in caplog.text and "7" in record.getMessage()


async def test_the_connection_cap_holds(provider):
    """More concurrent calls than connections wait for one: the provider never has more at once."""
    provider.script(completion("{}")).delay = 0.05
    http = ProviderSession(max_connections=3)
    client = ChatClient(http, provider.base_url, None)
    try:
        await asyncio.gather(*(client.complete({"model": "m", "messages": []}, timeout=5) for _ in range(12)))
    finally:
        await http.close()
    assert provider.peak_in_flight == 3 and provider.authorization == [None] * 12


async def test_a_connection_the_server_closed_while_idle_is_not_reused(http):
    """A provider closing idle keep-alive connections (uvicorn after 5 s) costs no failed call."""
    provider = ScriptedProvider()
    provider.server = RawTestServer(provider._handle, keepalive_timeout=0.2)
    await provider.server.start_server()
    try:
        client = ChatClient(http, provider.base_url, "k")
        provider.script(completion("{}"))
        await client.complete({"model": "m", "messages": []}, timeout=2)
        await asyncio.sleep(0.5)  # the server has closed the connection by now
        await client.complete({"model": "m", "messages": []}, timeout=2)
    finally:
        await provider.server.close()
    assert len(provider.seen) == 2
