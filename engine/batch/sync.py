"""The sync calls behind the HTTP API, free of HTTP and of Ray.

`SyncService` validates what pydantic cannot (provider, template fields),
plans the operation once, answers what the response cache holds and hands
the other items to a caller pool (`engine.batch.calls`).
"""

from __future__ import annotations

from engine.batch.calls import CallerPool, cascade_targets, plan_request
from engine.batch.cascade_routing import CascadeLedger, public_figures
from engine.batch.cascade_sync import run_cascade
from engine.batch.results import answering_model, sync_entry, usage_of
from engine.batch.reuse import ResponseCache, Reuse
from engine.config import Settings
from engine.errors import InvalidRequest
from engine.models import ItemsMixin, params_of
from engine.outcome import Outcome
from engine.prompt.plan import OperationPlan
from engine.target import Target


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


class SyncService:
    """The sync operations: a few items, answered in the response."""

    def __init__(self, settings: Settings, pool: CallerPool):
        self.settings = settings
        self.pool = pool
        self._cache = ResponseCache(settings.store)

    async def _outcomes(self, plan: OperationPlan, target: Target, items: list[dict], use_cache: bool) -> list[Outcome]:
        """One outcome per item, in item order: from the response cache if asked and held, else from the provider."""
        reuse = Reuse(plan, target, self._cache if use_cache else None, fold=False)
        outcomes, to_send = await reuse.sort(items)
        for outcome in await self.pool.run(plan, target, to_send) if to_send else []:
            outcomes.append(outcome)
            outcomes += reuse.settle(outcome)
        await reuse.flush()
        outcomes.sort(key=lambda outcome: outcome.index)
        return outcomes

    async def run_sync(self, operation: str, request: ItemsMixin) -> dict:
        params = params_of(request, operation)
        plan, target = plan_request(self.settings, operation, params)
        items = [{"index": i, **item.model_dump(exclude_none=True)} for i, item in enumerate(request.items)]
        check_template_fields(plan, items)
        if params.cascade is not None:
            return await self._cascade(operation, plan, params.cascade, items)
        use_cache = self.settings.cache_default if request.cache is None else request.cache
        outcomes = await self._outcomes(plan, target, items, use_cache)
        model = answering_model(outcomes, target.display_model)
        usage = usage_of(outcomes)
        return {
            "results": [sync_entry(operation, o) for o in outcomes],
            "model": model,
            "usage": usage,
            "estimated_cost": self.settings.prices.cost(model, usage["prompt_tokens"], usage["completion_tokens"]),
        }

    async def _cascade(self, operation: str, plan: OperationPlan, spec, items: list[dict]) -> dict:
        """A cascade's answers: each entry says which model answered and with what confidence."""
        cheap, strong = cascade_targets(self.settings, spec)
        ledger = CascadeLedger((cheap.display_model, strong.display_model))
        outcomes = await run_cascade(self.pool, plan, cheap, strong, items, spec, ledger)
        figures = ledger.to_meta(self.settings.prices)
        return {
            "results": [{**sync_entry(operation, o), "model": o.model, "confidence": o.confidence} for o in outcomes],
            "model": strong.display_model,
            "usage": usage_of(outcomes),
            "estimated_cost": figures["cost"],
            "cascade": public_figures(figures),
        }
