"""The cluster's circuit breakers (engine/provider/breaker.py) in one actor, shared by every caller process.

One per caller pool, named and detached like the rate limiters, so a provider
that opened for one caller actor is open for all of them, and one probe of the
whole cluster tests whether it is back. Restarted after a crash, it starts with
every circuit closed: the first calls find out again.
"""

from __future__ import annotations

import time

import ray

from engine.provider.breaker import Breakers, BreakerPolicy, Tally
from engine.ray.actors import ACTOR_OPTIONS


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=1000)
class BreakerActor:
    def __init__(self, policy: BreakerPolicy):
        self._breakers = Breakers(policy, time.monotonic)

    # async: the calls run one at a time on the actor's event loop (sync ones would share threads)
    async def admit(self, name: str, tally: Tally) -> tuple[bool, str]:
        return self._breakers.admit(name, tally)

    async def report(self, name: str, tally: Tally) -> str:
        return self._breakers.report(name, tally)


class RayBreakerBackend:
    """`BreakerBackend` over the pool's `BreakerActor`."""

    def __init__(self, handle):
        self._handle = handle

    async def admit(self, name: str, tally: Tally) -> tuple[bool, str]:
        return await self._handle.admit.remote(name, tally)

    async def report(self, name: str, tally: Tally) -> str:
        return await self._handle.report.remote(name, tally)


def breaker_for(pool_name: str, policy: BreakerPolicy):
    return BreakerActor.options(name=f"{pool_name}-breaker", **ACTOR_OPTIONS).remote(policy)
