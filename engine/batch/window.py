"""How many items a batch keeps in flight: enough to fill the pipe, no more.

Little's law: to sustain T items/s when a call takes L seconds of provider
time, about T*L items must be in flight. Keeping far more than that only
queues them in front of the rate limiter, where they delay every other batch
sharing it (a 10-item batch behind a 100k-item one) and a cancel. The window
follows the measured throughput and service time, with headroom to grow.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable


class InFlightWindow:
    def __init__(self, clock: Callable[[], float], minimum: int, maximum: int, horizon: float = 3.0):
        self._clock = clock
        self.minimum = minimum
        self.maximum = maximum
        self._horizon = horizon
        self._done: deque[tuple[float, int, float]] = deque()  # (when, items, service seconds)

    def record(self, items: int, service_seconds: float) -> None:
        """A chunk of `items` finished, having spent `service_seconds` at the provider in all."""
        now = self._clock()
        self._done.append((now, items, service_seconds))
        while self._done and self._done[0][0] < now - self._horizon:
            self._done.popleft()

    @property
    def size(self) -> int:
        if len(self._done) < 2:
            return 2 * self.minimum  # slow start: grows as measurements come in
        span = max(self._done[-1][0] - self._done[0][0], 0.25)
        items = sum(n for _, n, _ in self._done)
        throughput = items / span
        service = sum(s for _, _, s in self._done) / max(items, 1)
        # 4x what Little's law asks: while the window itself limits throughput it grows
        # fourfold per round trip (a 2 s provider fills 512 slots in a few seconds), and
        # under a rate limit it still queues only a few dozen items ahead of other batches.
        wanted = math.ceil(4.0 * throughput * service) + self.minimum
        return max(self.minimum, min(self.maximum, wanted))
