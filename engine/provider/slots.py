"""Callers take slots of a provider's concurrency limit, shared cluster-wide.

One `ConcurrencyLimit` per provider lives with its rate limiter (in the
`RateLimiterActor` on a cluster, `LocalSlotBackend` in one process), so the
limit holds for the cluster however many caller processes send. Each caller's
`SlotLease` talks to it through one exchange at a time: the slots its waiting
requests want, the round trips of the requests that ended since, and the slots
it holds but no longer needs. Exchanges batch whatever piled up while the last
one was in flight, so there is no actor round trip per request.

While the provider states rate limits (configured, or in its headers) the rate
limiter governs it and the limit grants every slot asked: the gradient is for
servers that queue (every self-hosted one), and a hosted API's latency jitter
would pull it down for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Protocol

from engine.provider.concurrency import ConcurrencyLimit, ConcurrencyView

log = logging.getLogger("agentflow.slots")

Sample = tuple[float, bool]  # (round trip in seconds, dropped: a timeout or an overloaded server)
EXCHANGE_SPACING = 0.005  # at most one exchange per caller this often: a few per request at high rates
POLL_SECONDS = 0.05  # no slot free: ask again this soon (other callers release theirs)


class SlotBackend(Protocol):
    async def exchange(self, wanted: int, samples: list[Sample], unused: int) -> int: ...
    async def concurrency(self) -> ConcurrencyView: ...


class LocalSlotBackend:
    """The shared limit in this process (tests, the single-process mode, and inside the limiter actor)."""

    def __init__(self, max_concurrency: int | None, rate_limited: Callable[[], bool] = lambda: False):
        self.limit = ConcurrencyLimit(configured=max_concurrency)
        self._rate_limited = rate_limited

    async def exchange(self, wanted: int, samples: list[Sample], unused: int) -> int:
        self.limit.release(unused)
        for rtt, dropped in samples:
            self.limit.sample(rtt, dropped)
        self.limit.governing = not self._rate_limited()
        return self.limit.acquire(wanted)

    async def concurrency(self) -> ConcurrencyView:
        return self.limit.view()


class SlotLease:
    """One caller's slots: `acquire()` before a request, `ended()` or `unused()` after it."""

    def __init__(
        self,
        backend: SlotBackend,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._backend = backend
        self._clock = clock
        self._sleep = sleep
        self._free = 0  # slots held, not in use
        self._waiting = 0  # requests waiting for a slot
        self._samples: list[Sample] = []  # requests ended, not yet reported
        self._has_free = asyncio.Event()
        self._news = asyncio.Event()  # a request ended or came to wait
        self._exchanger: asyncio.Task | None = None
        self._last_exchange = -POLL_SECONDS

    async def acquire(self) -> None:
        self._waiting += 1
        try:
            while self._free == 0:
                self._has_free.clear()
                self._nudge()
                await self._has_free.wait()
            self._free -= 1
        finally:
            self._waiting -= 1

    async def concurrency(self) -> ConcurrencyView:
        """The shared limit as it stands (every caller's requests counted)."""
        return await self._backend.concurrency()

    def ended(self, rtt: float, dropped: bool = False) -> None:
        """A request took `rtt` seconds (`dropped`: it timed out, or the server was overloaded)."""
        self._samples.append((rtt, dropped))
        self._nudge()

    def unused(self) -> None:
        """A slot given back without a round trip worth learning from (a 429, a refused body)."""
        self._add_free(1)
        self._nudge()

    def _add_free(self, slots: int) -> None:
        self._free += slots
        if self._free > 0:
            self._has_free.set()  # every waiter looks; those that find none wait again

    def _nudge(self) -> None:
        self._news.set()
        if self._exchanger is None or self._exchanger.done():
            self._exchanger = asyncio.get_running_loop().create_task(self._exchange_while_needed())

    async def _exchange_while_needed(self) -> None:
        while True:
            self._news.clear()
            wanted = max(0, self._waiting - self._free)
            unused = max(0, self._free - self._waiting)
            if not (wanted or unused or self._samples):
                return
            await self._sleep(max(0.0, self._last_exchange + EXCHANGE_SPACING - self._clock()))
            samples, self._samples = self._samples, []
            self._free -= unused
            self._last_exchange = self._clock()
            try:
                taken = await self._backend.exchange(wanted, samples, unused)
            except Exception:  # noqa: BLE001 - the shared limit unreachable: waiters must not hang
                log.warning("concurrency limit unreachable; asking again", exc_info=True)
                self._samples = samples + self._samples
                await self._sleep(POLL_SECONDS)
                continue
            if taken:
                self._add_free(taken)
            elif wanted and not self._news.is_set():
                await self._wait_for_news(POLL_SECONDS)  # every slot is held elsewhere

    async def _wait_for_news(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._news.wait(), seconds)
        except asyncio.TimeoutError:
            pass
