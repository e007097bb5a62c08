"""Rate-limit arithmetic: token buckets with an injected monotonic clock.

No asyncio, no I/O. A `RateLimiter` holds one bucket for requests/min and one
for tokens/min. Callers *reserve* (the bucket may go into debt, which orders
waiters first come, first served), wait the returned number of seconds, call
the provider, then *settle* the token estimate against the real usage.

Buckets start empty and their burst grows from a small value to a full
`burst_seconds` of rate: a bucket that starts full sends a burst the provider's
own per-second quantisation refuses with 429s.

While no limit is known (none configured, no response seen yet), the limiter
*probes*: it admits one call per `probe_seconds` until a response either tells
the limits (`x-ratelimit-limit-*`) or shows there are none. Fifty concurrent
first requests then do not all land on a provider that allows one a second.
"""

from __future__ import annotations

from typing import Callable

from engine.limits import Limits

Clock = Callable[[], float]
SLOW_RATE = 5.0  # requests (or tokens) per second below which one second of burst is a tiny cushion


class TokenBucket:
    """Refills at `rate` per second up to `capacity`; `level` may go negative (debt)."""

    def __init__(self, rate: float, capacity: float, clock: Clock, level: float = 0.0):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._level = min(level, capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def level(self) -> float:
        self._refill()
        return self._level

    def reserve(self, amount: float) -> float:
        """Take `amount` now (possibly into debt); return seconds until it is covered."""
        self._refill()
        self._level -= amount
        return max(0.0, -self._level / self.rate)

    def try_take(self, amount: float) -> bool:
        """Take `amount` only if it is available now (no debt)."""
        self._refill()
        if self._level < amount:
            return False
        self._level -= amount
        return True

    def seconds_until(self, amount: float) -> float:
        self._refill()
        return max(0.0, (amount - self._level) / self.rate)

    def give_back(self, amount: float) -> None:
        """Return reserved capacity that was not used (or take more when negative)."""
        self._refill()
        self._level = min(self.capacity, self._level + amount)

    def set_rate(self, rate: float, capacity: float) -> None:
        self._refill()
        self.rate, self.capacity = rate, capacity
        self._level = min(self._level, capacity)


class RateLimiter:
    """Requests/min and tokens/min buckets, with ramp-up and a shared 429 pause."""

    def __init__(
        self,
        limits: Limits,
        clock: Clock,
        burst_seconds: float = 0.5,
        ramp_seconds: float = 5.0,
        start_burst_seconds: float = 0.05,
        headroom: float = 0.98,
        probe_seconds: float = 1.0,
    ):
        self._clock = clock
        self._headroom = headroom  # pace a little under the limit: network jitter bunches arrivals
        self._probe_seconds = probe_seconds
        self._next_probe = 0.0
        self._unlimited = False
        self._burst_seconds = burst_seconds
        self._ramp_seconds = ramp_seconds
        self._start_burst = start_burst_seconds
        self._born = clock()
        self._paused_until = 0.0
        self.limits = Limits()
        self._requests: TokenBucket | None = None
        self._tokens: TokenBucket | None = None
        self.set_limits(limits)

    def set_limits(self, limits: Limits) -> None:
        """Adopt new limits (configured, or learned from provider headers)."""
        self.limits = limits
        self._unlimited = False
        self._requests = self._bucket(self._requests, limits.requests_per_minute)
        self._tokens = self._bucket(self._tokens, limits.tokens_per_minute)

    def _bucket(self, bucket: TokenBucket | None, per_minute: float | None) -> TokenBucket | None:
        if not per_minute:
            return None
        rate = per_minute / 60.0
        # A provider allowing a second's burst absorbs jitter, unless a second holds about one
        # request: then an arrival a few ms early is refused, so keep a wider margin there.
        rate *= self._headroom if rate >= SLOW_RATE else min(self._headroom, 0.95)
        capacity = self._capacity(rate)
        if bucket is None:
            return TokenBucket(rate, capacity, self._clock)
        bucket.set_rate(rate, capacity)
        return bucket

    def _capacity(self, rate: float) -> float:
        # Burst grows linearly from start_burst to burst_seconds of rate over the ramp.
        age = self._clock() - self._born
        share = min(1.0, age / self._ramp_seconds) if self._ramp_seconds > 0 else 1.0
        seconds = self._start_burst + (self._burst_seconds - self._start_burst) * share
        return max(1.0, rate * seconds)

    def _ramp(self) -> None:
        for bucket in (self._requests, self._tokens):
            if bucket is not None and bucket.capacity < bucket.rate * self._burst_seconds:
                bucket.set_rate(bucket.rate, self._capacity(bucket.rate))

    def confirm_unlimited(self) -> None:
        """A response carried no limit headers: stop probing (429s still pause)."""
        if not self.known:
            self._unlimited = True

    @property
    def known(self) -> bool:
        return bool(self.limits.requests_per_minute or self.limits.tokens_per_minute)

    @property
    def probing(self) -> bool:
        return not self.known and not self._unlimited

    def admit(self, requests: int, tokens: int) -> tuple[bool, float]:
        """(granted, seconds): wait `seconds`, then send if granted, else ask again."""
        if self.probing:
            now = self._clock()
            if now < self._next_probe or self.paused_for > 0:
                return False, min(0.05, max(self._next_probe - now, self.paused_for))
            self._next_probe = now + self._probe_seconds
            return True, 0.0
        return True, self.reserve(requests, tokens)

    def reserve(self, requests: int, tokens: int) -> float:
        """Reserve capacity for `requests` calls of `tokens` in all; return the wait in seconds."""
        self._ramp()
        wait = max(0.0, self._paused_until - self._clock())
        if self._requests is not None:
            wait = max(wait, self._requests.reserve(requests))
        if self._tokens is not None:
            # A single call larger than the burst must still pass eventually.
            wait = max(wait, self._tokens.reserve(tokens))
        return wait

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct a reservation once the real usage is known."""
        if self._tokens is not None and estimated_tokens != actual_tokens:
            self._tokens.give_back(estimated_tokens - actual_tokens)

    def pause(self, seconds: float) -> None:
        """After a 429: nobody sharing this limit sends for `seconds`."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())
