import pytest

from engine.limits import Limits
from engine.provider.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bucket_refills_at_rate_up_to_capacity():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert bucket.level == 0
    clock.now += 0.3
    assert bucket.level == pytest.approx(3)
    clock.now += 10
    assert bucket.level == 5


def test_reserve_goes_into_debt_and_returns_the_wait():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock, level=2)
    assert bucket.reserve(2) == 0
    assert bucket.reserve(3) == pytest.approx(0.3)  # first come, first served
    assert bucket.reserve(1) == pytest.approx(0.4)


def test_try_take_never_goes_into_debt():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, clock=clock, level=1)
    assert bucket.try_take(1)
    assert not bucket.try_take(1)
    assert bucket.seconds_until(1) == pytest.approx(1)


def test_limiter_starts_empty_and_paces_to_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(Limits(requests_per_minute=600), clock, ramp_seconds=0, headroom=1.0)
    waits = [limiter.reserve(1, 0) for _ in range(20)]
    # 10 requests/s from an empty bucket: request k waits k/10 s.
    assert waits == pytest.approx([(k + 1) / 10 for k in range(20)])


def test_limiter_burst_ramps_up():
    clock = FakeClock()
    limiter = RateLimiter(Limits(requests_per_minute=6000), clock, burst_seconds=0.5, ramp_seconds=5,
                          start_burst_seconds=0.05, headroom=1.0)
    clock.now += 10  # idle: the bucket may only hold what the ramp allows so far
    limiter.reserve(0, 0)
    assert limiter._requests.capacity == pytest.approx(50)  # fully ramped: 0.5 s of 100/s


def test_tokens_bucket_binds_and_settle_returns_unused_tokens():
    clock = FakeClock()
    limiter = RateLimiter(Limits(tokens_per_minute=6000), clock, ramp_seconds=0, headroom=1.0)
    assert limiter.reserve(1, 100) == pytest.approx(1.0)  # 100 tokens/s
    limiter.settle(estimated_tokens=100, actual_tokens=40)
    assert limiter.reserve(1, 60) == pytest.approx(1.0)


def test_pause_holds_everyone_until_retry_after():
    clock = FakeClock()
    limiter = RateLimiter(Limits(), clock)
    limiter.confirm_unlimited()
    assert limiter.reserve(1, 10) == 0
    limiter.pause(2.5)
    assert limiter.reserve(1, 10) == pytest.approx(2.5)
    clock.now += 3
    assert limiter.reserve(1, 10) == 0


def test_learned_limits_replace_configured_ones():
    clock = FakeClock()
    limiter = RateLimiter(Limits(requests_per_minute=600), clock, ramp_seconds=0, headroom=1.0)
    limiter.set_limits(Limits(requests_per_minute=1200, tokens_per_minute=None))
    assert limiter.reserve(1, 0) == pytest.approx(0.05)


def test_headroom_paces_just_under_the_limit_and_wider_for_slow_limits():
    limiter = RateLimiter(Limits(requests_per_minute=600), FakeClock(), ramp_seconds=0, headroom=0.98)
    assert limiter.reserve(1, 0) == pytest.approx(1 / (10 * 0.98))
    slow = RateLimiter(Limits(requests_per_minute=60), FakeClock(), ramp_seconds=0, headroom=0.98)
    assert slow.reserve(1, 0) == pytest.approx(1 / 0.95)  # one request a second: no burst to absorb jitter


def test_unknown_limits_are_probed_one_call_at_a_time():
    clock = FakeClock()
    limiter = RateLimiter(Limits(), clock, probe_seconds=1.0)
    assert limiter.admit(1, 10) == (True, 0.0)
    granted, wait = limiter.admit(1, 10)
    assert not granted and 0 < wait <= 0.05
    clock.now += 1.0
    assert limiter.admit(1, 10)[0]  # one probe a second if the first never answers
    limiter.set_limits(Limits(requests_per_minute=60))
    assert not limiter.probing


def test_a_response_without_limit_headers_ends_probing():
    limiter = RateLimiter(Limits(), FakeClock())
    limiter.admit(1, 1)
    limiter.confirm_unlimited()
    assert [limiter.admit(1, 1) for _ in range(3)] == [(True, 0.0)] * 3
