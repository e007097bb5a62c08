"""Callers draw small leases of rate-limit capacity from a shared limiter.

One `RateLimiter` per provider is shared by every caller (in a Ray actor on a
cluster, in-process otherwise). Asking it once per request would put an actor
round trip on every call, so each caller leases a few requests' worth at a
time and spends them locally; token estimates are settled on the next lease.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from engine.limits import Limits
from engine.provider.ratelimit import RateLimiter

LEASE_SECONDS = 0.02  # a lease covers about this much of the rate
MAX_LEASE = 32
UNLIMITED_LEASE = 64


@dataclass(frozen=True)
class Grant:
    """The shared limiter's answer to a lease request."""

    granted: bool  # False: ask again after `wait` (the limiter is probing for the limits)
    wait: float  # seconds to wait before sending
    limits: Limits
    probing: bool


class LimiterBackend(Protocol):
    async def lease(self, requests: int, tokens: int, settle: int) -> Grant: ...
    async def pause(self, seconds: float) -> None: ...
    async def learn(self, limits: Limits) -> None: ...


class LocalLimiterBackend:
    """The shared limiter in this process (tests, the embedded single-process mode)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic):
        self.limiter = RateLimiter(limits, clock)
        self._configured = limits

    def states_limits(self) -> bool:
        """Whether rate limits are known (configured, or in the provider's headers)."""
        limits = self.limiter.limits
        return bool(limits.requests_per_minute or limits.tokens_per_minute)

    async def lease(self, requests: int, tokens: int, settle: int) -> Grant:
        if settle:
            self.limiter.settle(settle, 0)
        probing = self.limiter.probing
        granted, wait = self.limiter.admit(requests, tokens)
        return Grant(granted, wait, self.limiter.limits, probing)

    async def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)

    async def learn(self, limits: Limits) -> None:
        if not (limits.requests_per_minute or limits.tokens_per_minute):
            # No headers (any more): only configured limits remain.
            if self.limiter.limits != self._configured:
                self.limiter.set_limits(self._configured)
            self.limiter.confirm_unlimited()
            return
        merged = merge_limits(self._configured, limits)
        if merged != self.limiter.limits:
            self.limiter.set_limits(merged)


def merge_limits(current: Limits, learned: Limits) -> Limits:
    """Provider headers win over configuration: they are the limit actually enforced."""
    return Limits(
        learned.requests_per_minute or current.requests_per_minute,
        learned.tokens_per_minute or current.tokens_per_minute,
    )


class Lease:
    """One caller's local share of a provider's limit."""

    def __init__(
        self,
        backend: LimiterBackend,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._backend = backend
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._requests = 0
        self._tokens = 0
        self._unsettled = 0  # tokens reserved but not used (positive) or overused (negative)
        self._not_before = 0.0
        self._reported: Limits | None = None
        self._grant: Grant | None = None  # the shared limiter's last answer

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about `tokens` may be sent."""
        while True:
            delay = self._not_before - self._clock()
            if delay > 0:
                await self._sleep(delay)
                continue
            if self._requests >= 1 and self._tokens >= tokens:
                self._requests -= 1
                self._tokens -= tokens
                return
            async with self._lock:
                if self._requests >= 1 and self._tokens >= tokens:
                    continue
                await self._refill(tokens)

    async def _refill(self, tokens: int) -> None:
        size = self._lease_size(tokens)
        need_tokens = max(0, size * tokens - self._tokens)
        self._grant = await self._backend.lease(size, need_tokens, self._unsettled)
        self._unsettled = 0
        if self._grant.wait > 0:
            await self._sleep(self._grant.wait)
        if self._grant.granted:
            self._requests += size
            self._tokens += need_tokens

    def _lease_size(self, tokens: int) -> int:
        if self._grant is None or self._grant.probing:
            return 1  # the limits are not known yet
        rpm, tpm = self._grant.limits.requests_per_minute, self._grant.limits.tokens_per_minute
        if not rpm and not tpm:
            return UNLIMITED_LEASE
        per_second = min(r for r in (rpm and rpm / 60, tpm and tpm / 60 / max(tokens, 1)) if r)
        return max(1, min(MAX_LEASE, int(per_second * LEASE_SECONDS)))

    def settle(self, estimated: int, actual: int) -> None:
        self._unsettled += estimated - actual

    async def rate_limited(self, retry_after: float | None) -> None:
        """A 429: stop sending for retry-after, here and for every caller sharing the limit."""
        seconds = retry_after if retry_after is not None else 1.0
        self._not_before = max(self._not_before, self._clock() + seconds)
        self._requests = 0  # what was leased before the 429 is not to be trusted
        await self._backend.pause(seconds)

    async def learn(self, limits: Limits) -> None:
        """What a response's headers said of the limits (maybe nothing); passed on once per change."""
        if limits != self._reported:
            self._reported = limits
            await self._backend.learn(limits)
