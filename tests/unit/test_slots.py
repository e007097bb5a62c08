"""Slots of a provider's concurrency limit: shared by several callers, taken and given back per call (no Ray)."""

import asyncio

from engine.provider.slots import HEARTBEAT_SECONDS, HOLDER_TTL_SECONDS, LocalSlotBackend, SlotLease
from tests.unit.test_client_caller import (  # noqa: F401 - fixtures
    HANG,
    PLAN,
    completion,
    http,
    make_caller,
    provider,
    target,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RecordingBackend(LocalSlotBackend):
    """The real in-process limit; keeps every sample it was sent."""

    def __init__(self, max_concurrency=None, rate_limited=lambda: False):
        super().__init__(max_concurrency, rate_limited)
        self.samples = []

    async def exchange(self, holder, wanted, samples, holding):
        self.samples += samples
        return await super().exchange(holder, wanted, samples, holding)


async def settle():
    """Let the leases' exchanges run out."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def run_requests(leases, count, seconds=0.01):
    """`count` requests spread over `leases`; returns the most that were ever in flight together."""
    state = {"now": 0, "peak": 0}

    async def request(lease):
        await lease.acquire()
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(seconds)
        state["now"] -= 1
        lease.ended(seconds)

    await asyncio.gather(*(request(leases[i % len(leases)]) for i in range(count)))
    return state["peak"]


async def test_callers_sharing_a_limit_never_exceed_it_together():
    backend = LocalSlotBackend(max_concurrency=3)
    peak = await run_requests([SlotLease(backend), SlotLease(backend)], count=40)
    assert peak == 3
    await settle()
    assert (await backend.concurrency()).as_dict() == {"limit": 3, "in_flight": 0, "source": "configured"}


async def test_round_trips_reach_the_shared_limit_and_grow_it():
    backend = RecordingBackend()
    await run_requests([SlotLease(backend)], count=30)
    await settle()
    assert len(backend.samples) == 30
    view = await backend.concurrency()
    assert view.source == "adaptive" and view.limit > 1 and view.in_flight == 0  # slow start: +1 an answer


async def test_an_unused_slot_goes_back_and_a_waiter_gets_it():
    backend = LocalSlotBackend(max_concurrency=1)
    first, second = SlotLease(backend), SlotLease(backend)
    await first.acquire()
    waiting = asyncio.ensure_future(second.acquire())
    await settle()
    assert not waiting.done()  # the one slot is held by the other caller
    first.unused()
    await asyncio.wait_for(waiting, 1)
    second.unused()
    await settle()
    assert (await backend.concurrency()).in_flight == 0


async def test_a_cancelled_waiter_leaves_no_slot_taken():
    backend = LocalSlotBackend(max_concurrency=1)
    lease = SlotLease(backend)
    await lease.acquire()
    waiting = asyncio.ensure_future(lease.acquire())
    await settle()
    waiting.cancel()
    lease.ended(0.01)
    await settle()
    assert (await backend.concurrency()).in_flight == 0


async def test_the_slots_of_a_caller_gone_silent_are_taken_back():
    clock = Clock()
    backend = LocalSlotBackend(max_concurrency=2, clock=clock)
    assert await backend.exchange("lost-caller", 2, [], 0) == 2  # it took both slots, then its process died
    lease = SlotLease(backend)
    waiting = asyncio.ensure_future(lease.acquire())
    await settle()
    assert not waiting.done()
    clock.now += HOLDER_TTL_SECONDS + 1
    await asyncio.wait_for(waiting, 1)
    assert (await backend.concurrency()).in_flight == 1


async def test_a_caller_on_a_long_call_heartbeats_and_keeps_its_slot():
    clock = Clock()
    backend = LocalSlotBackend(max_concurrency=1, clock=clock)
    lease = SlotLease(backend)
    await lease.acquire()
    clock.now += HOLDER_TTL_SECONDS - 1
    await asyncio.sleep(HEARTBEAT_SECONDS + 0.5)  # nothing to say but that it still holds the slot
    clock.now += 2  # silent this long since it took the slot, but not since its heartbeat
    other = asyncio.ensure_future(SlotLease(backend).acquire())
    await settle()
    assert not other.done() and (await backend.concurrency()).in_flight == 1
    lease.ended(1.0)
    await asyncio.wait_for(other, 1)


async def test_a_provider_that_states_rate_limits_is_not_limited_here():
    backend = LocalSlotBackend(None, rate_limited=lambda: True)
    peak = await run_requests([SlotLease(backend)], count=50)
    assert peak == 50
    await settle()
    assert (await backend.concurrency()).as_dict() == {"limit": None, "in_flight": 0, "source": "rate_limits"}


async def test_the_caller_holds_a_pinned_limit_at_the_server(http, provider):
    provider.script(completion('{"label": "a", "confidence": 0.9}'))
    provider.delay = 0.02
    backend = RecordingBackend(max_concurrency=3)
    lease = SlotLease(backend)
    caller = make_caller(http, provider, slots_for=lambda p: lease)
    outcomes = await caller.run_many(PLAN, target(provider), [{"index": i, "content": "x"} for i in range(24)])
    assert [o.status.value for o in outcomes] == ["completed"] * 24
    assert provider.peak_in_flight == 3
    await settle()
    assert len(backend.samples) == 24 and not any(dropped for _, dropped in backend.samples)
    assert (await caller.concurrency(target(provider).provider)).in_flight == 0


async def test_a_timeout_is_reported_to_the_limit_as_a_drop(http, provider):
    provider.script(HANG)
    backend = RecordingBackend()
    lease = SlotLease(backend)
    caller = make_caller(http, provider, slots_for=lambda p: lease, timeout=0.2, max_retries=1)
    [outcome] = await caller.run_many(PLAN, target(provider), [{"index": 0, "content": "x"}])
    assert outcome.error["type"] == "provider_timeout"
    await settle()
    assert [dropped for _, dropped in backend.samples] == [True, True]  # the call and its one retry
