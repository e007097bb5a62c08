"""The application behind the HTTP API, free of HTTP and of Ray.

`EngineService` validates what pydantic cannot (provider, template fields),
plans the operation once, and hands the items to a caller pool: in-process
for tests, Ray actors in the service (`engine.ray.actors.RayCallerPool`).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from engine.batch.results import answering_model, sync_entry, usage_of
from engine.batch.reuse import ResponseCache, request_key, reused_outcome
from engine.config import Settings
from engine.errors import InvalidRequest
from engine.models import ItemsMixin, params_of
from engine.prompt.operations import OperationPlan, prepare
from engine.provider.caller import Caller
from engine.target import Target


class CallerPool(Protocol):
    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[dict]: ...


class LocalCallerPool:
    """One in-process `Caller` (tests and single-process use)."""

    def __init__(self, caller: Caller):
        self._caller = caller

    async def run(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[dict]:
        return await self._caller.run_many(plan, target, items)


def plan_request(settings: Settings, operation: str, params) -> tuple[OperationPlan, Target]:
    provider, model = settings.resolve(params.model)
    return prepare(operation, params), Target(provider, model)


def metadata_fields(plan: OperationPlan) -> frozenset[str]:
    """The template's fields that every item's metadata must have."""
    return plan.template.fields - {"content"}


def missing_template_field(index: int, name: str) -> InvalidRequest:
    return InvalidRequest(f"template field {{{name}}} is not in items[{index}] (not 'content' nor a metadata key)",
                          field=f"items.{index}.metadata.{name}")


def check_template_fields(plan: OperationPlan, items: list[dict]) -> None:
    """Every {field} of the template must be in every item (content or metadata)."""
    needed = metadata_fields(plan)
    for index, item in enumerate(items):
        missing = needed - set(item.get("metadata") or {})
        if missing:
            raise missing_template_field(index, sorted(missing)[0])


class EngineService:
    def __init__(self, settings: Settings, pool: CallerPool):
        self.settings = settings
        self.pool = pool
        self._cache = ResponseCache(settings.store)

    async def _run_cached(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[dict]:
        """Answer from the response cache what it holds; call the provider for the rest."""
        keys = [request_key(plan, target, item) for item in items]
        hits = await asyncio.to_thread(self._cache.lookup, keys)
        misses = [item for item, key in zip(items, keys) if key not in hits]
        fresh = iter(await self.pool.run(plan, target, misses) if misses else [])
        outcomes = []
        for item, key in zip(items, keys):
            if key in hits:
                outcomes.append(reused_outcome(item, hits[key], "cached"))
            else:
                outcomes.append(next(fresh))
                self._cache.add(key, outcomes[-1])
        await asyncio.to_thread(self._cache.flush)
        return outcomes

    async def run_sync(self, operation: str, request: ItemsMixin) -> dict:
        params = params_of(request, operation)
        plan, target = plan_request(self.settings, operation, params)
        items = [{"index": i, **item.model_dump(exclude_none=True)} for i, item in enumerate(request.items)]
        check_template_fields(plan, items)
        use_cache = self.settings.cache_default if request.cache is None else request.cache
        outcomes = await (self._run_cached(plan, target, items) if use_cache else self.pool.run(plan, target, items))
        model = answering_model(outcomes, target.display_model)
        usage = usage_of(outcomes)
        return {
            "results": [sync_entry(operation, o) for o in outcomes],
            "model": model,
            "usage": usage,
            "estimated_cost": self.settings.prices.cost(model, usage["prompt_tokens"], usage["completion_tokens"]),
        }
