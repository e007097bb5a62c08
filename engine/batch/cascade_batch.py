"""A cascade batch's flow, run by the `Coordinator` through its `Dispatcher` (no engine of its own).

1. The sample (drawn at random, seeded by the batch id) goes to both models;
   the threshold is learned from it (engine/batch/cascade_threshold.py), and the
   sample items end with the strong answer.
2. Every other item goes to the cheap model; an answer at or above the
   threshold ends the item, any other (unsure, unknown confidence, failed) is
   escalated to the strong model, whose answer ends it. With no threshold,
   the items go to the strong model alone.

The order (sample first) lets step 2 stream: no cheap answer waits for the
threshold, so nothing is held but the calls in flight. The ledger (threshold,
tokens per model) is in the batch's meta, so a restarted coordinator skips
step 1 and the status keeps its figures; each item still ends exactly once
(the store keeps the first completed record).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from engine.batch.cascade_routing import (
    CascadeLedger,
    sample_answer,
    sample_pair,
    trusted,
    with_spend_of,
)
from engine.batch.cascade_threshold import learn_threshold
from engine.batch.dispatch import Dispatcher, chunks
from engine.models import CascadeSpec
from engine.outcome import Outcome
from engine.prompt.plan import OperationPlan
from engine.target import Target


class CascadeBatch:
    """One batch's cascade: `learn` on its sample, then `send` the rest, shard by shard."""

    def __init__(self, spec: CascadeSpec, plan: OperationPlan, cheap: Target, strong: Target, ledger: CascadeLedger,
                 dispatch: Dispatcher, emit: Callable[[list[Outcome]], None], stopping: Callable[[], bool]):
        self.spec, self.plan = spec, plan
        self.cheap, self.strong, self.ledger = cheap, strong, ledger
        self._dispatch, self._emit, self._stopping = dispatch, emit, stopping

    async def learn(self, items: list[dict], done) -> set[int]:
        """Step 1 on the sample `items`: the threshold; the sample items not in `done` end. Returns their indexes."""
        cheap: dict[int, Outcome] = {}
        strong: dict[int, Outcome] = {}
        for target, answers in ((self.cheap, cheap), (self.strong, strong)):
            for chunk in chunks(items):
                await self._dispatch.wait_for_room(len(chunk))
                if self._stopping():
                    break
                self._dispatch.launch(self.plan, target, chunk, partial(_collect, answers))
        await self._dispatch.drain()
        if self._stopping():
            return set()
        self.ledger.spent("cheap", list(cheap.values()))
        self.ledger.spent("strong", list(strong.values()))
        pairs = [pair for index in cheap if index in strong
                 if (pair := sample_pair(self.plan.operation, cheap[index], strong[index])) is not None]
        self.ledger.learn(learn_threshold(pairs, self.spec.target_agreement), len(items))
        ended = [i for i in sorted(cheap) if i in strong and i not in done]
        self._end([sample_answer(cheap[i], strong[i]) for i in ended],
                  {i: _other(cheap[i], strong[i]) for i in ended})
        return {item["index"] for item in items}

    async def send(self, items: list[dict]) -> None:
        """Step 2 for `items`: the cheap model first (unless no threshold was found), escalating what it is unsure of."""
        for chunk in chunks(items):
            await self._dispatch.wait_for_room(len(chunk))
            if self._stopping():
                return
            if self.ledger.threshold is None:
                self.ledger.escalated_items += len(chunk)
                self._dispatch.launch(self.plan, self.strong, chunk, partial(self._after_strong, {}))
            else:
                self._dispatch.launch(self.plan, self.cheap, chunk, partial(self._after_cheap, chunk))

    def _after_cheap(self, chunk: list[dict], outcomes: list[Outcome]) -> None:
        self.ledger.spent("cheap", outcomes)
        self._end([outcome for outcome in outcomes if trusted(outcome, self.ledger.threshold)])
        unsure = {outcome.index: outcome for outcome in outcomes if not trusted(outcome, self.ledger.threshold)}
        escalate = [item for item in chunk if item["index"] in unsure]
        if escalate and not self._stopping():  # a stop sends nothing new: those items end cancelled
            self.ledger.escalated_items += len(escalate)
            self._dispatch.launch(self.plan, self.strong, escalate, partial(self._after_strong, unsure))

    def _after_strong(self, cheap: dict[int, Outcome], outcomes: list[Outcome]) -> None:
        self.ledger.spent("strong", outcomes)
        self._end(outcomes, cheap)

    def _end(self, outcomes: list[Outcome], spent_before: dict[int, Outcome] | None = None) -> None:
        """The items end with `outcomes`; each carries the tokens of its other call (`spent_before`) too."""
        for outcome in outcomes:
            self.ledger.kept(outcome)
            if spent_before and outcome.index in spent_before:
                with_spend_of(outcome, spent_before[outcome.index])
        self._emit(outcomes)


def _collect(answers: dict[int, Outcome], outcomes: list[Outcome]) -> None:
    answers.update((outcome.index, outcome) for outcome in outcomes)


def _other(cheap: Outcome, strong: Outcome) -> Outcome:
    return cheap if sample_answer(cheap, strong) is strong else strong

