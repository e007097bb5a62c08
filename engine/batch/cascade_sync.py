"""A cascade over a sync request's few items (engine/batch/cascade_batch.py is the batch's).

Two rounds: the cheap model on every item and the strong one on the sample
at once, then the strong model on the items the cheap one was unsure of.
The sample is drawn at random, seeded by the items' text, so the same
request draws the same sample.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from engine.batch.calls import CallerPool
from engine.batch.cascade_routing import (
    CascadeLedger,
    sample_answer,
    sample_indexes,
    sample_pair,
    trusted,
    with_spend_of,
)
from engine.batch.cascade_threshold import learn_threshold
from engine.models import CascadeSpec
from engine.outcome import Outcome
from engine.prompt.plan import OperationPlan
from engine.target import Target


def _seed_of(items: list[dict]) -> str:
    return hashlib.sha256(json.dumps([item["content"] for item in items]).encode()).hexdigest()


async def run_cascade(pool: CallerPool, plan: OperationPlan, cheap: Target, strong: Target, items: list[dict],
                      spec: CascadeSpec, ledger: CascadeLedger) -> list[Outcome]:
    """One outcome per item, in item order (`items` are indexed 0..n-1); `ledger` gets the figures."""
    sample = [items[i] for i in sample_indexes(len(items), spec.sample, _seed_of(items))]
    first, checked = await asyncio.gather(pool.run(plan, cheap, items), pool.run(plan, strong, sample))
    ledger.spent("cheap", first)
    ledger.spent("strong", checked)
    by_strong = {outcome.index: outcome for outcome in checked}
    pairs = [pair for outcome in first if outcome.index in by_strong
             if (pair := sample_pair(plan.operation, outcome, by_strong[outcome.index])) is not None]
    ledger.learn(learn_threshold(pairs, spec.target_agreement), len(sample))
    unsure = [item for item, outcome in zip(items, first)
              if item["index"] not in by_strong and not trusted(outcome, ledger.threshold)]
    ledger.escalated_items = len(unsure)
    escalated = await pool.run(plan, strong, unsure) if unsure else []
    ledger.spent("strong", escalated)
    by_strong.update((outcome.index, outcome) for outcome in escalated)
    ended = []
    for outcome in first:
        strong_answer = by_strong.get(outcome.index)
        kept = outcome if strong_answer is None else sample_answer(outcome, strong_answer)
        ledger.kept(kept)
        if strong_answer is not None:
            with_spend_of(kept, strong_answer if kept is outcome else outcome)
        ended.append(kept)
    return ended
