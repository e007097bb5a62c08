"""The caller against servers that speak structured output differently (no Ray).

Each server is a bare aiohttp app on a loopback port that refuses or takes a
request by what its body asks, as the real ones do (llama-cpp-python answers
a response_format it does not know with a 500 from its request validator).
"""

import asyncio
import json
import random

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from engine.config import ProviderConfig
from engine.errors import ProviderHTTPError, RequestRefused, is_retryable
from engine.limits import Limits
from engine.models import ChatParams, LabelParams, SummarizeParams
from engine.prompt.operations import prepare
from engine.provider.caller import Caller, RetryPolicy
from engine.provider.client import ChatClient, ProviderSession
from engine.provider.discovery import Dialects, LocalDialectBook
from engine.provider.leases import Lease, LocalLimiterBackend
from engine.target import Target

PLAN = prepare("label", LabelParams(categories=["a", "b"]))
LLAMA_REFUSAL = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                 "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}")
ANSWER = {"model": "m", "choices": [{"message": {"content": '{"label": "a", "confidence": 0.9}'}}],
          "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


class DialectServer:
    """Takes the response_format types in `takes`; answers others with `refusal` (status, message)."""

    def __init__(self, takes=("json_object",), refusal=(500, LLAMA_REFUSAL), delay=0.02):
        self.takes, self.refusal, self.delay = takes, refusal, delay
        self.seen: list[dict] = []
        self.server = RawTestServer(self._handle)

    async def _handle(self, request: web.BaseRequest) -> web.Response:
        body = json.loads(await request.read())
        self.seen.append(body)
        await asyncio.sleep(self.delay)
        kind = (body.get("response_format") or {}).get("type", "none")
        if kind not in self.takes:
            status, message = self.refusal
            error = {"error": {"message": message, "type": "internal_server_error"}}
            return web.json_response(error, status=status)
        return web.json_response(ANSWER)

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("/v1"))

    def kinds(self) -> list[str]:
        return [(b.get("response_format") or {}).get("type", "none") for b in self.seen]


@pytest.fixture
async def http():
    session = ProviderSession(max_connections=64)
    yield session
    await session.close()


async def serve(server: DialectServer) -> DialectServer:
    await server.server.start_server()
    return server


async def no_sleep(_):
    return None


def caller_for(http, server, dialects=None) -> Caller:
    client = ChatClient(http, server.base_url, "k")
    backend = LocalLimiterBackend(Limits())
    backend.limiter.confirm_unlimited()
    lease = Lease(backend, sleep=no_sleep)
    return Caller(lambda p: client, lambda p: lease, RetryPolicy(), concurrency=64, rng=random.Random(1),
                  sleep=no_sleep, dialects=dialects)


def local(server, dialect="auto") -> Target:
    return Target(ProviderConfig(name="local", base_url=server.base_url, api_key="none", dialect=dialect), "m")


async def run(caller, target, count):
    return await caller.run_many(PLAN, target, [{"index": i, "content": f"item {i}"} for i in range(count)])


async def test_a_llama_cpp_server_is_found_with_one_refused_call_for_a_whole_batch(http):
    server = await serve(DialectServer())
    outcomes = await run(caller_for(http, server), local(server), 40)
    assert [o.status for o in outcomes] == ["completed"] * 40
    assert server.kinds() == ["json_schema"] + ["json_object"] * 40  # the others waited for the first answer
    assert all(b["response_format"]["schema"] == PLAN.response_format["json_schema"]["schema"]
               for b in server.seen[1:])
    assert sum(o.attempts for o in outcomes) == 41
    await server.server.close()


async def test_a_server_refusing_every_response_format_is_asked_in_the_prompt(http):
    server = await serve(DialectServer(takes=("none",), refusal=(400, "response_format is not supported")))
    outcomes = await run(caller_for(http, server), local(server), 10)
    assert [o.status for o in outcomes] == ["completed"] * 10
    assert server.kinds() == ["json_schema", "json_object", "json_object"] + ["none"] * 10
    assert "JSON Schema" in server.seen[-1]["messages"][0]["content"]
    await server.server.close()


async def test_a_configured_dialect_that_is_refused_fails_fast_naming_the_provider(http):
    server = await serve(DialectServer())
    outcomes = await run(caller_for(http, server), local(server, dialect="json_schema"), 3)
    assert len(server.seen) == 3  # one call each: a refused body is not sent again
    for outcome in outcomes:
        assert outcome.status == "failed" and outcome.attempts == 1
        assert outcome.error["type"] == "provider_http_error"
        assert outcome.error["message"].startswith("provider 'local' refused the request's response_format (500)")
        assert "Input should be 'text' or 'json_object'" in outcome.error["message"]
    await server.server.close()


async def test_a_refusal_that_does_not_name_the_format_is_not_taken_for_the_dialect(http):
    server = await serve(DialectServer(takes=(), refusal=(400, "model 'm' not found")))
    outcomes = await run(caller_for(http, server), local(server), 2)
    assert len(server.seen) == 2 and server.kinds() == ["json_schema"] * 2
    assert {o.error["message"] for o in outcomes} == {"provider 'local' refused the request (400): model 'm' not found"}
    await server.server.close()


async def test_the_dialect_found_by_one_process_is_where_the_next_one_starts(http):
    server = await serve(DialectServer())
    book = LocalDialectBook()
    await run(caller_for(http, server, Dialects(lambda p: book)), local(server), 2)
    assert await book.recall() == "llama_cpp"
    server.seen.clear()
    await run(caller_for(http, server, Dialects(lambda p: book)), local(server), 2)
    assert server.kinds() == ["json_object"] * 2  # no refused call this time
    await server.server.close()


async def test_a_deterministic_500_is_not_retried_but_a_transient_one_is(http):
    server = await serve(DialectServer(takes=(), refusal=(500, "1 validation error: messages Field required")))
    text_plan = prepare("summarize", SummarizeParams())
    caller = caller_for(http, server)
    outcome = await caller.run_item(text_plan, local(server), {"index": 0, "content": "x"})
    assert outcome.attempts == 1 and len(server.seen) == 1
    assert outcome.error["message"].startswith("provider 'local' refused the request (500)")
    server.refusal, server.seen = (500, "CUDA out of memory, try again"), []
    outcome = await caller.run_item(text_plan, local(server), {"index": 0, "content": "x"})
    assert outcome.attempts == 5 and outcome.error["message"] == "provider answered 500: CUDA out of memory, try again"
    assert not is_retryable(RequestRefused("x", 500)) and is_retryable(ProviderHTTPError("x", 500))
    await server.server.close()


async def test_a_chat_items_own_body_is_sent_as_given_in_any_dialect(http):
    # The OpenAI Batch API's pass-through: its response_format is the caller's, not the engine's.
    server = await serve(DialectServer(takes=("json_schema",)))
    plan = prepare("chat", ChatParams(model="local/m"))
    body = {"model": "theirs", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}}
    outcome = await caller_for(http, server).run_item(plan, local(server, dialect="llama_cpp"),
                                                      {"index": 0, "content": json.dumps(body)})
    assert outcome.status == "completed", outcome
    assert server.seen == [{**body, "model": "m"}]
    await server.server.close()
