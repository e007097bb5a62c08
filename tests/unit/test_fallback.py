"""Provider fallbacks through a real Caller, against two scripted providers on loopback (no Ray, a fake clock)."""

import random

import pytest

from engine.config import ProviderConfig
from engine.limits import Limits
from engine.provider.breaker import BreakerPolicy
from engine.provider.caller import Caller, RetryPolicy
from engine.provider.client import ChatClient, ProviderSession
from engine.provider.fallback import Circuits, Fallbacks, LocalBreakerBackend
from engine.provider.leases import Lease, LocalLimiterBackend
from engine.target import Target
from tests.unit.test_client_caller import PLAN, ScriptedProvider, completion, no_sleep, reply

ANSWER = completion('{"label": "a", "confidence": 0.9}')
POLICY = BreakerPolicy(window=10.0, min_failures=2, storm_429s=3, cooldown=30.0)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def started() -> ScriptedProvider:
    scripted = ScriptedProvider()
    await scripted.server.start_server()
    return scripted


@pytest.fixture
async def providers():
    primary, backup = await started(), await started()
    yield primary, backup
    await primary.server.close()
    await backup.server.close()


@pytest.fixture
async def http():
    session = ProviderSession(max_connections=8)
    yield session
    await session.close()


def config(name: str, scripted: ScriptedProvider) -> ProviderConfig:
    return ProviderConfig(name=name, base_url=scripted.base_url, api_key="k", dialect="json_schema")


def route(primary: ScriptedProvider, backup: ScriptedProvider) -> Target:
    return Target(config("primary", primary), "m", (Target(config("backup", backup), "m-backup"),))


def make_caller(http, clock: Clock, **policy) -> Caller:
    clients: dict[str, ChatClient] = {}
    leases: dict[str, Lease] = {}

    def client_for(provider: ProviderConfig) -> ChatClient:
        return clients.setdefault(provider.name, ChatClient(http, provider.base_url, "k"))

    def lease_for(provider: ProviderConfig) -> Lease:
        if provider.name not in leases:
            backend = LocalLimiterBackend(Limits())
            backend.limiter.confirm_unlimited()
            leases[provider.name] = Lease(backend, sleep=no_sleep)
        return leases[provider.name]

    # refresh=0: every result reaches the breaker at once, so a test can count on it
    circuits = Circuits(LocalBreakerBackend(POLICY, clock), clock, refresh=0)
    return Caller(client_for, lease_for, RetryPolicy(**{"max_retries": 1, **policy}), concurrency=8,
                  rng=random.Random(1), sleep=no_sleep, fallbacks=Fallbacks(circuits))


async def test_an_outage_moves_items_to_the_fallback_and_the_primary_gets_them_back_when_it_answers(http, providers):
    primary, backup = providers
    primary.script(reply(503, text="down"))
    backup.script(ANSWER)
    clock = Clock()
    caller = make_caller(http, clock)
    target = route(primary, backup)

    first = await caller.run_item(PLAN, target, {"index": 0, "content": "c"})
    assert (first.status, first.provider, first.attempts, len(primary.seen)) == ("completed", "backup", 3, 2)
    assert backup.seen[0]["model"] == "m-backup"  # the fallback's own model name

    second = await caller.run_item(PLAN, target, {"index": 1, "content": "c"})
    assert (second.provider, second.attempts, len(primary.seen)) == ("backup", 1, 2)  # open: not asked

    primary.script(ANSWER)
    clock.now += 30  # the cool-down: the next item is the probe, and the primary answers it
    probe = await caller.run_item(PLAN, target, {"index": 2, "content": "c"})
    after = await caller.run_item(PLAN, target, {"index": 3, "content": "c"})
    assert (probe.provider, after.provider, len(primary.seen)) == ("primary", "primary", 2)
    assert len(backup.seen) == 2


async def test_a_429_storm_moves_items_to_the_fallback(http, providers):
    primary, backup = providers
    primary.script(reply(429, {"error": {"message": "slow"}}, headers={"retry-after-ms": "1"}))
    backup.script(ANSWER)
    outcome = await make_caller(http, Clock()).run_item(PLAN, route(primary, backup), {"index": 0, "content": "c"})
    assert (outcome.status, outcome.provider, len(primary.seen)) == ("completed", "backup", 3)


async def test_a_refused_request_or_a_bad_answer_stays_with_its_provider(http, providers):
    primary, backup = providers
    primary.script(reply(400, {"error": {"message": "bad model"}}))
    caller = make_caller(http, Clock(), max_repairs=0)
    refused = await caller.run_item(PLAN, route(primary, backup), {"index": 0, "content": "c"})
    assert (refused.status, refused.error["type"], refused.provider) == ("failed", "provider_http_error", "primary")
    primary.script(completion("{truncated"))
    broken = await caller.run_item(PLAN, route(primary, backup), {"index": 1, "content": "c"})
    assert (broken.error["type"], broken.provider) == ("output_parse_error", "primary")
    assert backup.seen == []


async def test_the_last_provider_is_called_even_when_every_circuit_is_open(http, providers):
    primary, backup = providers
    primary.script(reply(503, text="down"))
    backup.script(reply(503, text="down too"))
    caller = make_caller(http, Clock())
    outcomes = [await caller.run_item(PLAN, route(primary, backup), {"index": i, "content": "c"}) for i in range(4)]
    assert [o.error["type"] for o in outcomes] == ["provider_http_error"] * 4
    assert {o.provider for o in outcomes} == {"backup"}
    assert len(primary.seen) == 2 and len(backup.seen) == 8  # the primary opened; the backup has no fallback
