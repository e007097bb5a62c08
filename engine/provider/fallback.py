"""Provider fallbacks: an item goes to the next provider of its target's list while one is out.

`Circuits` is one process's view of the cluster's circuit breakers
(engine/provider/breaker.py, kept by one `BreakerBackend`: the breaker actor
on a cluster). Asking the actor on every call would put a round trip on each
request, so a process trusts a closed or open state for `refresh` seconds and
sends its calls' answers with its next question; a failure or a 429 is sent
at once (with the answers before it), and while a circuit is not closed every
result is, so one answer closes it.

`Fallbacks.run` sends an item to the first provider of its target whose
circuit admits it; an outage error (engine.errors.is_outage: the retries are
spent, or the circuit opened meanwhile) moves it to the next. The last one is
always called: with nowhere else to go, its own retries decide.
A fallback's calls take the fallback's own lease (rate limiter) and dialect:
the caller looks both up by the provider it is calling.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol, TypeVar

from engine.errors import ProviderError, ProviderHTTPError, ProviderUnavailable, RateLimited, RequestRefused, is_outage
from engine.provider.breaker import CLOSED, OPEN, Breakers, BreakerPolicy, Tally
from engine.provider.client import ChatClient, Completion
from engine.target import Target

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.5
T = TypeVar("T")


class BreakerBackend(Protocol):
    async def admit(self, name: str, tally: Tally) -> tuple[bool, str]: ...
    async def report(self, name: str, tally: Tally) -> str: ...


class LocalBreakerBackend:
    """The circuits in this process (tests, a caller with no cluster)."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self.breakers = Breakers(policy, clock)

    async def admit(self, name: str, tally: Tally) -> tuple[bool, str]:
        return self.breakers.admit(name, tally)

    async def report(self, name: str, tally: Tally) -> str:
        return self.breakers.report(name, tally)


@dataclass
class _View:
    state: str = CLOSED
    seen: float = float("-inf")
    unreported: Tally = field(default_factory=Tally)

    def take(self) -> Tally:
        tally, self.unreported = self.unreported, Tally()
        return tally


class Circuits:
    """What this process knows of each provider's circuit, and the results it has yet to report."""

    def __init__(self, backend: BreakerBackend, clock: Callable[[], float] = time.monotonic,
                 refresh: float = REFRESH_SECONDS):
        self._backend = backend
        self._clock = clock
        self._refresh = refresh
        self._views: dict[str, _View] = {}

    def _view(self, name: str) -> _View:
        if name not in self._views:
            self._views[name] = _View()
        return self._views[name]

    def _fresh(self, view: _View) -> bool:
        return self._clock() - view.seen < self._refresh

    async def admit(self, name: str) -> bool:
        """Whether a new item may go to provider `name` (half-open: only the one probe of the cluster)."""
        view = self._view(name)
        if self._fresh(view) and view.state in (CLOSED, OPEN):
            return view.state == CLOSED
        view.seen = self._clock()  # the other calls of this process go on trusting it meanwhile
        admitted, state = await self._backend.admit(name, view.take())
        self._learn(name, view, state)
        return admitted

    async def is_open(self, name: str) -> bool:
        """Whether calls already under way should stop going to `name`."""
        view = self._view(name)
        if not self._fresh(view):
            await self._report(name, view)
        return view.state == OPEN

    async def record(self, name: str, answered: int = 0, failed: int = 0, rate_limited: int = 0) -> None:
        view = self._view(name)
        unreported = view.unreported
        view.unreported = Tally(unreported.answered + answered, unreported.failed + failed,
                                unreported.rate_limited + rate_limited)
        # A failure goes at once, with the answers before it: the breaker counts failures in a row.
        if failed or rate_limited or view.state != CLOSED or not self._fresh(view):
            await self._report(name, view)

    async def _report(self, name: str, view: _View) -> None:
        view.seen = self._clock()
        self._learn(name, view, await self._backend.report(name, view.take()))

    @staticmethod
    def _learn(name: str, view: _View, state: str) -> None:
        if state != view.state:
            log.warning("provider %s: circuit %s", name, state.replace("_", "-"))
        view.state = state


class GuardedClient:
    """A provider's client whose calls feed its circuit, and stop once it opens."""

    def __init__(self, client: ChatClient, circuits: Circuits, name: str):
        self._client = client
        self._circuits = circuits
        self._name = name

    async def complete(self, body: dict, timeout: float) -> Completion:
        if await self._circuits.is_open(self._name):
            raise ProviderUnavailable(f"provider {self._name!r} is out (its circuit is open)")
        try:
            completion = await self._client.complete(body, timeout)
        except RateLimited:
            await self._circuits.record(self._name, rate_limited=1)
            raise
        except RequestRefused:
            await self._circuits.record(self._name, answered=1)  # it answered: the body is at fault
            raise
        except ProviderHTTPError as exc:
            await self._circuits.record(self._name, **({"failed": 1} if exc.status >= 500 else {"answered": 1}))
            raise
        except ProviderError:  # timeout, connection error
            await self._circuits.record(self._name, failed=1)
            raise
        await self._circuits.record(self._name, answered=1)
        return completion


class Fallbacks:
    """Sends an item to its target's providers in order, skipping those that are out."""

    def __init__(self, circuits: Circuits | None = None):
        self._circuits = circuits or Circuits(LocalBreakerBackend(BreakerPolicy()))

    async def run(self, target: Target, attempt: Callable[[Target], Awaitable[T]]) -> T:
        """`attempt(target)` on the first provider that admits it; on an outage, on the next."""
        while True:
            name = target.provider.name
            if target.fallbacks and not await self._circuits.admit(name):
                target = target.next()
                continue
            try:
                return await attempt(target)
            except ProviderError as exc:
                if not target.fallbacks or not is_outage(exc):
                    raise
                log.debug("provider %s is out (%s): an item goes to %s", name, exc.code,
                          target.fallbacks[0].provider.name)
                target = target.next()

    def client(self, target: Target, client: ChatClient):
        """The client to call `target` through: guarded by its circuit while it has a fallback."""
        return GuardedClient(client, self._circuits, target.provider.name) if target.fallbacks else client
