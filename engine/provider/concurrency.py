"""An adaptive limit on requests in flight, for servers that send no rate-limit headers.

A self-hosted server (llama.cpp, vLLM, Ollama) has a few slots; beyond them
requests queue, so latency climbs while goodput stays flat. The gradient method
of TCP Vegas and Netflix's concurrency-limits finds that knee: with
gradient = min_rtt / rtt, limit' = limit * gradient + sqrt(limit). While the
server keeps up the gradient is 1 and the limit grows by the queue allowance;
once requests queue the gradient falls below 1 and pulls the limit back.
Timeouts and overloaded answers (503) halve it, at most once per round trip.
It starts at one slot and doubles each round trip while latency holds (TCP's
slow start), so the fastest round trip is measured before anything queues.

Pure arithmetic with an injected clock: no asyncio, no Ray.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

MIN_GRADIENT = 0.5  # one bad sample cannot cut the limit by more than half
SLOW_START_GRADIENT = 0.9  # latency within 10% of the fastest: nothing queues yet


@dataclass(frozen=True)
class ConcurrencyView:
    """What the batch status shows."""

    limit: int | None  # None: not limited here (the provider's rate limits govern it)
    in_flight: int
    source: str  # "adaptive" | "configured" | "rate_limits"

    def as_dict(self) -> dict:
        return {"limit": self.limit, "in_flight": self.in_flight, "source": self.source}


class ConcurrencyLimit:
    """Slots for requests in flight to one provider; pinned when `configured` is set."""

    def __init__(
        self,
        configured: int | None = None,
        initial: int = 1,
        min_limit: int = 1,
        max_limit: int = 1024,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.configured = configured
        self._limit = float(configured or initial)
        self.min_limit, self.max_limit = min_limit, max_limit
        self.smoothing = smoothing
        self.clock = clock
        self.in_flight = 0
        self.min_rtt: float | None = None
        self.rtt: float | None = None  # smoothed round trip
        self._last_drop = -math.inf
        self._slow_start = True
        # False while the provider states rate limits: they govern it, and a hosted API's
        # latency jitter (min_rtt far below the mean) would pull the gradient down for nothing.
        self.governing = True

    @property
    def limit(self) -> int:
        return max(self.min_limit, int(self._limit))

    @property
    def adapting(self) -> bool:
        return self.governing and not self.configured

    @property
    def source(self) -> str:
        return "configured" if self.configured else "adaptive" if self.governing else "rate_limits"

    def view(self) -> ConcurrencyView:
        limited = self.configured or self.governing
        return ConcurrencyView(self.limit if limited else None, self.in_flight, self.source)

    def acquire(self, wanted: int) -> int:
        """Take up to `wanted` free slots; returns how many were taken (maybe 0)."""
        room = self.limit - self.in_flight if self.configured or self.governing else wanted
        taken = max(0, min(wanted, room))
        self.in_flight += taken
        return taken

    def release(self, slots: int = 1) -> None:
        """Give back slots that were taken but not used."""
        self.in_flight = max(0, self.in_flight - slots)

    def sample(self, rtt: float, dropped: bool = False) -> None:
        """One request ended after `rtt` seconds; `dropped` for a timeout or server error."""
        self.release(1)
        if not self.adapting:
            return
        if dropped:
            self._on_drop()
            return
        self._observe(rtt)
        if self._slow_start and self._grow_fast(rtt):
            return
        gradient = max(MIN_GRADIENT, min(1.0, self.min_rtt / self.rtt))
        queue_allowance = math.sqrt(self._limit)
        target = self._limit * gradient + queue_allowance
        if target > self._limit and self.in_flight + 1 < self._limit / 2:
            return  # the caller is not using the limit: no evidence to grow it
        smoothed = (1 - self.smoothing) * self._limit + self.smoothing * target
        self._limit = min(self.max_limit, max(self.min_limit, smoothed))

    def _grow_fast(self, rtt: float) -> bool:
        """Slow start: one more slot per answer; False once latency climbs."""
        if self.min_rtt / max(rtt, 1e-6) < SLOW_START_GRADIENT:
            self._slow_start = False
            return False
        if self.in_flight + 1 >= self._limit / 2:
            self._limit = min(self.max_limit, self._limit + 1)
        return True

    def _observe(self, rtt: float) -> None:
        rtt = max(rtt, 1e-6)
        # Kept for the limiter's life: re-measured under load it would be a queued one.
        self.min_rtt = rtt if self.min_rtt is None else min(self.min_rtt, rtt)
        self.rtt = rtt if self.rtt is None else 0.9 * self.rtt + 0.1 * rtt

    def _on_drop(self) -> None:
        now = self.clock()
        # Requests in flight together fail together: halve once per round trip.
        if now - self._last_drop < (self.rtt or 0.0):
            return
        self._last_drop = now
        self._slow_start = False
        self._limit = max(self.min_limit, self._limit / 2)
