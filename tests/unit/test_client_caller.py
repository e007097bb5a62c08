"""ChatClient and Caller against httpx2.MockTransport (no network, no Ray)."""

import json
import random

import httpx2 as httpx
import pytest

from engine.caller import Caller, RetryPolicy, Target
from engine.client import ChatClient
from engine.config import ProviderConfig
from engine.errors import ProviderConnectionError, ProviderHTTPError, ProviderTimeout, RateLimited
from engine.leases import Lease, LocalLimiterBackend
from engine.models import LabelParams
from engine.operations import prepare
from engine.ratelimit import Limits

PROVIDER = ProviderConfig(name="openai", base_url="http://provider.test/v1", api_key="k")
TARGET = Target(PROVIDER, "gpt-4.1-mini")
PLAN = prepare("label", LabelParams(categories=["a", "b"]))


def completion(content, headers=None):
    body = {"model": "gpt-4.1-mini", "choices": [{"message": {"content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    return httpx.Response(200, json=body, headers=headers or {})


def scripted(*responses):
    """A transport answering with the given responses (or raising given exceptions) in turn."""
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


async def no_sleep(_):
    return None


def make_caller(handler, **policy):
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ChatClient(http, PROVIDER.base_url, PROVIDER.api_key)
    backend = LocalLimiterBackend(Limits())
    backend.limiter.confirm_unlimited()  # no probing: these tests are about retries
    lease = Lease(backend, sleep=no_sleep)
    return Caller(lambda p: client, lambda p: lease, RetryPolicy(**policy), concurrency=8,
                  rng=random.Random(1), sleep=no_sleep)


async def test_client_translates_errors_at_its_boundary():
    cases = [
        (httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1500"}), RateLimited),
        (httpx.Response(503, text="down"), ProviderHTTPError),
        (httpx.ReadTimeout("t"), ProviderTimeout),
        (httpx.ConnectError("refused"), ProviderConnectionError),
        (httpx.Response(200, text="not json"), ProviderHTTPError),
        (AttributeError("'NoneType' object has no attribute 'getpeername'"), ProviderConnectionError),
    ]
    for answer, expected in cases:
        handler, _ = scripted(answer)
        client = ChatClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), PROVIDER.base_url, "k")
        with pytest.raises(expected) as info:
            await client.complete({"model": "m", "messages": []}, timeout=1)
        if expected is RateLimited:
            assert info.value.retry_after == 1.5


async def test_client_reads_usage_and_limit_headers():
    handler, _ = scripted(completion('{"x":1}', {"x-ratelimit-limit-requests": "3000",
                                                 "x-ratelimit-limit-tokens": "90000"}))
    client = ChatClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), PROVIDER.base_url, "k")
    result = await client.complete({}, timeout=1)
    assert (result.prompt_tokens, result.completion_tokens) == (10, 5)
    assert result.limits == Limits(3000, 90000)


async def test_transient_errors_are_retried_then_succeed():
    handler, seen = scripted(httpx.Response(500), httpx.ReadTimeout("t"), completion('{"label": "a", "confidence": 0.9}'))
    outcome = await make_caller(handler).run_item(PLAN, TARGET, {"index": 0, "id": "x", "content": "c"})
    assert outcome["status"] == "completed"
    assert outcome["result"] == {"label": "a", "confidence": 0.9, "confidence_source": "self_reported"}
    assert (outcome["attempts"], outcome["id"], len(seen)) == (3, "x", 3)


async def test_invalid_answer_is_repaired_with_the_errors_attached():
    handler, seen = scripted(completion('{"label": "zzz", "confidence": 0.9}'), completion('{"label": "b", "confidence": 1}'))
    outcome = await make_caller(handler).run_item(PLAN, TARGET, {"index": 0, "content": "c"})
    assert outcome["status"] == "completed"
    assert "is not one of" in seen[1]["messages"][-1]["content"]
    assert outcome["prompt_tokens"] == 20


async def test_persistent_failure_is_an_item_error_not_an_exception():
    handler, seen = scripted(completion("{truncated"))
    outcome = await make_caller(handler, max_repairs=2).run_item(PLAN, TARGET, {"index": 3, "content": "c"})
    assert outcome["status"] == "failed"
    assert outcome["error"]["type"] == "output_parse_error"
    assert "gave up after 3 attempts" in outcome["error"]["message"]
    assert outcome["index"] == 3 and len(seen) == 3


async def test_client_errors_are_not_retried():
    handler, seen = scripted(httpx.Response(400, json={"error": {"message": "bad model"}}))
    outcome = await make_caller(handler).run_item(PLAN, TARGET, {"index": 0, "content": "c"})
    assert outcome["error"] == {"type": "provider_http_error", "message": "provider answered 400: bad model"}
    assert len(seen) == 1


async def test_rate_limited_calls_wait_and_retry_without_using_the_error_budget():
    answers = [httpx.Response(429, headers={"retry-after": "0"})] * 6 + [completion('{"label": "a", "confidence": 0.5}')]
    handler, seen = scripted(*answers)
    outcome = await make_caller(handler, max_retries=1).run_item(PLAN, TARGET, {"index": 0, "content": "c"})
    assert outcome["status"] == "completed" and outcome["attempts"] == 7


async def test_run_many_keeps_item_order():
    handler, _ = scripted(completion('{"label": "a", "confidence": 0.5}'))
    items = [{"index": i, "content": f"c{i}"} for i in range(20)]
    outcomes = await make_caller(handler).run_many(PLAN, TARGET, items)
    assert [o["index"] for o in outcomes] == list(range(20))


async def test_an_unexpected_exception_fails_only_its_item():
    handler, _ = scripted(completion('{"label": "a", "confidence": 0.5}'))
    plan = prepare("label", LabelParams(categories=["a", "b"]))
    context_plan = plan.__class__(**{**plan.__dict__, "include_context": True})
    # Metadata that cannot be rendered (not JSON-serialisable) breaks prompt building for this item only.
    items = [{"index": 0, "content": "ok"}, {"index": 1, "content": "ok", "metadata": {"x": object()}}]
    outcomes = await make_caller(handler).run_many(context_plan, TARGET, items)
    assert outcomes[0]["status"] == "completed"
    assert outcomes[1]["status"] == "failed" and outcomes[1]["error"] == {
        "type": "internal_error", "message": "unexpected TypeError"}
