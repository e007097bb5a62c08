"""Callers take slots of a provider's concurrency limit, shared cluster-wide.

One `ConcurrencyLimit` per provider lives with its rate limiter (in the
`RateLimiterActor` on a cluster, `LocalSlotBackend` in one process), so the
limit holds for the cluster however many caller processes send. Each caller's
`SlotLease` talks to it through one exchange at a time: the slots its waiting
requests want, the round trips of the requests that ended since, and how many
slots it still holds. Exchanges batch whatever piled up while the last one was
in flight, so there is no actor round trip per request.

A caller says how many slots it holds on every exchange, and at least every
HEARTBEAT_SECONDS while it holds any; the slots of a caller silent for
HOLDER_TTL_SECONDS (its process died, its node was lost) are taken back, so a
lost caller cannot shrink the limit for the others for good.

While the provider states rate limits (configured, or in its headers) the rate
limiter governs it and the limit grants every slot asked: the gradient is for
servers that queue (every self-hosted one), and a hosted API's latency jitter
would pull it down for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Awaitable, Callable, Protocol

from engine.provider.concurrency import ConcurrencyLimit, ConcurrencyView

log = logging.getLogger("agentflow.slots")

Sample = tuple[float, bool]  # (round trip in seconds, dropped: a timeout or an overloaded server)
EXCHANGE_SPACING = 0.005  # at most one exchange per caller this often: a few per request at high rates
POLL_SECONDS = 0.05  # no slot free: ask again this soon (other callers release theirs)
HEARTBEAT_SECONDS = 2.0
HOLDER_TTL_SECONDS = 15.0


class SlotBackend(Protocol):
    async def exchange(self, holder: str, wanted: int, samples: list[Sample], holding: int) -> int: ...
    async def concurrency(self) -> ConcurrencyView: ...


class LocalSlotBackend:
    """The shared limit in this process (tests, the single-process mode, and inside the limiter actor)."""

    def __init__(self, max_concurrency: int | None, rate_limited: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = ConcurrencyLimit(configured=max_concurrency, clock=clock)
        self._rate_limited = rate_limited
        self._clock = clock
        self._holdings: dict[str, int] = {}  # slots each caller holds, as it last said
        self._heard: dict[str, float] = {}

    async def exchange(self, holder: str, wanted: int, samples: list[Sample], holding: int) -> int:
        """`holding`: the caller's slots after giving back those its `samples` ended; returns the slots taken."""
        self._forget_silent()
        others = sum(self._holdings.values()) - self._holdings.get(holder, 0)
        self.limit.in_flight = others + holding + len(samples)  # each sample gives its slot back
        for rtt, dropped in samples:
            self.limit.sample(rtt, dropped)
        self.limit.governing = not self._rate_limited()
        taken = self.limit.acquire(wanted)
        self._holdings[holder], self._heard[holder] = holding + taken, self._clock()
        if not self._holdings[holder]:
            del self._holdings[holder], self._heard[holder]
        return taken

    async def concurrency(self) -> ConcurrencyView:
        self._forget_silent()
        self.limit.in_flight = sum(self._holdings.values())
        return self.limit.view()

    def _forget_silent(self) -> None:
        cutoff = self._clock() - HOLDER_TTL_SECONDS
        for holder in [h for h, heard in self._heard.items() if heard < cutoff]:
            log.warning("a caller holding %d slots went silent: they are taken back", self._holdings[holder])
            del self._holdings[holder], self._heard[holder]


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
        self._holder = uuid.uuid4().hex
        self._free = 0  # slots held, not in use
        self._busy = 0  # slots held by requests in flight
        self._waiting = 0  # requests waiting for a slot
        self._samples: list[Sample] = []  # requests ended, not yet reported
        self._has_free = asyncio.Event()
        self._news = asyncio.Event()  # a request ended, came to wait, or gave its slot back
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
            self._busy += 1
        finally:
            self._waiting -= 1

    async def concurrency(self) -> ConcurrencyView:
        """The shared limit as it stands (every caller's requests counted)."""
        return await self._backend.concurrency()

    def ended(self, rtt: float, dropped: bool = False) -> None:
        """A request took `rtt` seconds (`dropped`: it timed out, or the server was overloaded)."""
        self._busy -= 1
        self._samples.append((rtt, dropped))
        self._nudge()

    def unused(self) -> None:
        """A slot given back without a round trip worth learning from (a 429, a refused body)."""
        self._busy -= 1
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
        """Exchanges while there is something to say, and heartbeats while slots are held."""
        while True:
            self._news.clear()
            wanted = max(0, self._waiting - self._free)
            spare = max(0, self._free - self._waiting)
            if not (wanted or spare or self._samples):
                if not self._busy + self._free:
                    return
                await self._wait_for_news(HEARTBEAT_SECONDS)
            await self._sleep(max(0.0, self._last_exchange + EXCHANGE_SPACING - self._clock()))
            taken = await self._exchange()
            if taken:
                self._add_free(taken)
            elif wanted and not self._news.is_set():
                await self._wait_for_news(POLL_SECONDS)  # every slot is held elsewhere

    async def _exchange(self) -> int:
        wanted = max(0, self._waiting - self._free)
        self._free -= max(0, self._free - self._waiting)  # spare slots go back
        samples, self._samples = self._samples, []
        self._last_exchange = self._clock()
        try:
            return await self._backend.exchange(self._holder, wanted, samples, self._busy + self._free)
        except Exception:  # noqa: BLE001 - the shared limit unreachable: waiters must not hang
            log.warning("concurrency limit unreachable; asking again", exc_info=True)
            self._samples = samples + self._samples
            await self._sleep(POLL_SECONDS)
            return 0

    async def _wait_for_news(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._news.wait(), seconds)
        except asyncio.TimeoutError:
            pass
