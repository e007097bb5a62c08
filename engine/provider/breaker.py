"""A circuit breaker per provider: arithmetic only (the clock is passed in).

Closed, calls go to the provider. It opens on an outage (`min_failures`
connection errors, timeouts or 5xx in a row, with no answer between them) or
a 429 storm (`storm_429s` 429s in a row), the streak within `window` seconds.
Open, the provider's items go to its fallbacks. After `cooldown` seconds it is
half-open: one call (the probe) is let through; an answer closes it, so the
batch goes back to the provider, and a failure opens it for another cool-down.
A probe that never reports (its caller died) is replaced after `probe_timeout`.

In a row, not a share of a time window: a busy provider that dies would
otherwise stay closed until its failures outnumber the answers it gave just
before. An answer breaks the streak, so the scattered 500s of a flaky provider
and the few 429s of a well-paced batch are left to the retries. Results come
in tallies (a process's calls since its last report); a tally's answers are
taken as earlier than its failures, since a process reports each failure at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window: float = 10.0
    min_failures: int = 5
    storm_429s: int = 20
    cooldown: float = 30.0
    probe_timeout: float = 60.0


@dataclass
class Tally:
    """What the calls to one provider came to since the last report."""

    answered: int = 0  # the provider answered (a refusal is an answer too)
    failed: int = 0  # connection error, timeout, 5xx
    rate_limited: int = 0  # 429

    def __bool__(self) -> bool:
        return bool(self.answered or self.failed or self.rate_limited)


class CircuitBreaker:
    """One provider's circuit."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]):
        self._policy = policy
        self._clock = clock
        self._failed = self._limited = 0  # the streak: bad results since the last answer
        self._streak_at = 0.0  # when the streak began
        self._opened_at: float | None = None  # None: closed
        self._probe_at: float | None = None  # when the half-open probe was let through

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._clock() - self._opened_at >= self._policy.cooldown else OPEN

    def admit(self) -> bool:
        """Whether a new item may be sent here (half-open: the one probe)."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        now = self._clock()
        if self._probe_at is not None and now - self._probe_at < self._policy.probe_timeout:
            return False  # a probe is out already
        self._probe_at = now
        return True

    def record(self, tally: Tally) -> str:
        """Calls' results; returns the state after them."""
        state = self.state
        if state == HALF_OPEN and tally:
            if tally.answered:
                self._close()  # the provider answers again
            else:
                self._open()
        elif state == CLOSED and tally:
            self._extend_streak(tally)
            if self._failed >= self._policy.min_failures or self._limited >= self._policy.storm_429s:
                self._open()
        return self.state

    def _extend_streak(self, tally: Tally) -> None:
        now = self._clock()
        if tally.answered or now - self._streak_at > self._policy.window:
            self._failed = self._limited = 0
        if not (self._failed or self._limited):
            self._streak_at = now
        self._failed += tally.failed
        self._limited += tally.rate_limited

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._probe_at = None
        self._failed = self._limited = 0

    def _close(self) -> None:
        self._opened_at = self._probe_at = None
        self._failed = self._limited = 0


class Breakers:
    """The circuits of every provider, by name (what the cluster's breaker actor holds)."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]):
        self._policy = policy
        self._clock = clock
        self._circuits: dict[str, CircuitBreaker] = {}

    def _circuit(self, name: str) -> CircuitBreaker:
        if name not in self._circuits:
            self._circuits[name] = CircuitBreaker(self._policy, self._clock)
        return self._circuits[name]

    def admit(self, name: str, tally: Tally) -> tuple[bool, str]:
        """Report `tally`, then ask to send a new item: (admitted, the state)."""
        circuit = self._circuit(name)
        circuit.record(tally)
        return circuit.admit(), circuit.state

    def report(self, name: str, tally: Tally) -> str:
        return self._circuit(name).record(tally)
