"""What the sync service and the batch coordinator both call through.

`CallerPool` runs items through callers (in-process `LocalCallerPool` for tests,
Ray actors in the service: `engine.ray.actors.RayCallerPool`); `plan_request`
plans an operation once for all its items.
"""

from __future__ import annotations

from typing import Protocol

from engine.config import ProviderConfig, Settings
from engine.errors import ConfigurationError, InvalidRequest
from engine.models import CascadeSpec
from engine.outcome import Outcome
from engine.prompt.operations import prepare
from engine.prompt.plan import OperationPlan
from engine.provider.caller import Caller
from engine.provider.concurrency import ConcurrencyView
from engine.target import Target, with_fallbacks


class CallerPool(Protocol):
    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[Outcome]: ...
    async def concurrency(self, provider: ProviderConfig) -> ConcurrencyView: ...


class LocalCallerPool:
    """One in-process `Caller` (tests and single-process use)."""

    def __init__(self, caller: Caller):
        self._caller = caller

    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[Outcome]:
        return await self._caller.run_many(plan, target, items)

    async def concurrency(self, provider: ProviderConfig) -> ConcurrencyView:
        return await self._caller.concurrency(provider)


def plan_request(settings: Settings, operation: str, params) -> tuple[OperationPlan, Target]:
    """The operation's plan and the provider and model it goes to (and its fallbacks; a cascade's: its strong model)."""
    if params.cascade is not None:
        return prepare(operation, params), cascade_targets(settings, params.cascade)[1]
    provider, model = settings.resolve(params.model)
    return prepare(operation, params), with_fallbacks(provider, model, settings.providers)


def cascade_targets(settings: Settings, cascade: CascadeSpec) -> tuple[Target, Target]:
    """The cascade's (cheap, strong) targets; InvalidRequest naming `cascade.models.<i>` for one unknown."""
    targets = []
    for number, name in enumerate(cascade.models):
        try:
            targets.append(with_fallbacks(*settings.resolve(name), settings.providers))
        except ConfigurationError as exc:
            raise InvalidRequest(exc.message, field=f"cascade.models.{number}") from None
    return targets[0], targets[1]
