import pytest

from engine.limits import Limits
from engine.provider.leases import Lease, LocalLimiterBackend, merge_limits


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


def lease_with(limits):
    clock = Clock()
    backend = LocalLimiterBackend(limits, clock)
    backend.limiter._ramp_seconds = 0  # full burst from the start, to keep the arithmetic plain
    backend.limiter._headroom = 1.0
    backend.limiter.set_limits(limits)
    return Lease(backend, clock=clock, sleep=clock.sleep), backend, clock


async def test_acquire_paces_requests_to_the_shared_limit():
    lease, _, clock = lease_with(Limits(requests_per_minute=600))
    for _ in range(50):
        await lease.acquire(10)
    assert clock.now == pytest.approx(5.0, abs=0.2)  # 10/s from an empty bucket


async def test_unlimited_provider_leases_in_large_blocks():
    calls = []

    class CountingBackend(LocalLimiterBackend):
        async def lease(self, requests, tokens, settle):
            calls.append(requests)
            return await super().lease(requests, tokens, settle)

    lease = Lease(CountingBackend(Limits()))
    await lease.acquire(50)  # the probe
    await lease.learn(Limits())  # its response carried no limit headers
    for _ in range(99):
        await lease.acquire(50)
    assert calls == [1, 1, 64, 64]  # not one round trip per request


async def test_rate_limited_pauses_this_caller_and_the_shared_limiter():
    lease, backend, clock = lease_with(Limits())
    backend.limiter.confirm_unlimited()
    await lease.rate_limited(2.0)
    assert backend.limiter.paused_for == pytest.approx(2.0)
    await lease.acquire(1)
    assert clock.now >= 2.0


async def test_learned_limits_are_passed_on_once():
    lease, backend, _ = lease_with(Limits(requests_per_minute=100))
    await lease.learn(Limits(3000, None))
    await lease.learn(Limits(3000, None))
    assert backend.limiter.limits == Limits(3000, None)
    assert merge_limits(Limits(1, 2), Limits(None, 5)) == Limits(1, 5)


async def test_learned_limits_are_dropped_when_headers_stop_but_configured_ones_stay():
    lease, backend, _ = lease_with(Limits(requests_per_minute=100))
    await lease.learn(Limits(3000, 90000))
    assert backend.limiter.limits == Limits(3000, 90000)
    await lease.learn(Limits())
    assert backend.limiter.limits == Limits(100, None)
    unconfigured, backend, _ = lease_with(Limits())
    await unconfigured.learn(Limits(60, None))
    await unconfigured.learn(Limits())
    assert backend.limiter.limits == Limits() and not backend.limiter.probing
