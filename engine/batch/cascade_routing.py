"""A cascade's bookkeeping, pure: the sample, which answer an item keeps, and what the cascade cost.

Shared by the batch flow (engine/batch/cascade_batch.py) and the sync one
(engine/batch/cascade_sync.py); the threshold itself is engine/batch/cascade_threshold.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.batch.cascade_threshold import answers_agree
from engine.outcome import ItemStatus, Outcome
from engine.pricing import PriceTable


# What a status or a sync response shows of a ledger (engine.responses.CascadeStatus).
CASCADE_FIGURES = ("models", "threshold", "sample_items", "escalated_items", "cost", "strong_only_cost")


def public_figures(ledger_meta: dict) -> dict:
    """The figures a status or a sync response shows of a ledger's meta (`CascadeLedger.to_meta`)."""
    return {name: ledger_meta[name] for name in CASCADE_FIGURES}


def sample_indexes(total: int, size: int, seed: str) -> list[int]:
    """`size` item indexes (all of them if fewer), drawn at random but the same for the same seed."""
    return sorted(random.Random(seed).sample(range(total), min(size, total)))


def cascade_cost_range(prices: PriceTable, targets, input_tokens: int, output_tokens: int, total: int,
                       sample: int) -> list[float] | None:
    """A dry run's [lowest, highest] cascade cost: cheap on all and strong on the sample .. both on all."""
    cheap, strong = (prices.cost(target.display_model, input_tokens, output_tokens) for target in targets)
    if cheap is None or strong is None:
        return None
    share = min(sample, total) / total if total else 0.0
    return [round(cheap + strong * share, 10), round(cheap + strong, 10)]


def trusted(cheap: Outcome, threshold: float | None) -> bool:
    """Whether the cheap answer stands: completed, with a known confidence at or above the threshold."""
    return (threshold is not None and cheap.status is ItemStatus.COMPLETED and cheap.confidence is not None
            and cheap.confidence >= threshold)


def sample_pair(operation: str, cheap: Outcome, strong: Outcome) -> tuple[float, bool] | None:
    """(cheap confidence, agrees with strong) for one sample item; None unless both answered and a confidence is known."""
    if cheap.status is not ItemStatus.COMPLETED or strong.status is not ItemStatus.COMPLETED:
        return None
    if cheap.confidence is None:
        return None
    return cheap.confidence, answers_agree(operation, cheap.result, strong.result)


def sample_answer(cheap: Outcome, strong: Outcome) -> Outcome:
    """A sample item keeps the strong answer; the cheap one only if the strong model failed."""
    if strong.status is ItemStatus.COMPLETED or cheap.status is not ItemStatus.COMPLETED:
        return strong
    return cheap


def with_spend_of(kept: Outcome, other: Outcome) -> Outcome:
    """`kept`, carrying the other call's tokens and attempts too: the item's usage is all it cost."""
    kept.prompt_tokens += other.prompt_tokens
    kept.completion_tokens += other.completion_tokens
    kept.attempts += other.attempts
    kept.latency_ms = round(kept.latency_ms + other.latency_ms, 2)
    return kept


@dataclass
class CascadeLedger:
    """What a cascade decided and spent; kept in the batch's meta as `cascade` (see `to_meta`)."""

    models: tuple[str, str]  # (cheap, strong) as provider/model
    learned: bool = False  # the threshold has been learned (it may still be None: nothing qualified)
    threshold: float | None = None
    sample_items: int = 0
    escalated_items: int = 0  # items past the sample that the strong model answered
    tokens: dict = field(default_factory=lambda: {"cheap": [0, 0], "strong": [0, 0], "kept": [0, 0]})

    def spent(self, role: str, outcomes: list[Outcome]) -> None:
        """Tokens of calls to the cheap or the strong model, whether or not their answer is kept."""
        tally = self.tokens[role]
        for outcome in outcomes:
            tally[0] += outcome.prompt_tokens
            tally[1] += outcome.completion_tokens

    def kept(self, outcome: Outcome) -> None:
        """Tokens of the one call whose answer an item keeps: what strong-only would have paid for it."""
        self.tokens["kept"][0] += outcome.prompt_tokens
        self.tokens["kept"][1] += outcome.completion_tokens

    def learn(self, threshold: float | None, sample_items: int) -> None:
        self.learned, self.threshold, self.sample_items = True, threshold, sample_items

    def cost(self, prices: PriceTable) -> float | None:
        cheap, strong = (prices.cost(model, *self.tokens[role]) for model, role in zip(self.models, ("cheap", "strong")))
        return None if cheap is None or strong is None else round(cheap + strong, 10)

    def strong_only_cost(self, prices: PriceTable) -> float | None:
        """Every kept answer's tokens at the strong model's price (the prompts are the same)."""
        return prices.cost(self.models[1], *self.tokens["kept"])

    def to_meta(self, prices: PriceTable) -> dict:
        return {"models": list(self.models), "learned": self.learned, "threshold": self.threshold,
                "sample_items": self.sample_items, "escalated_items": self.escalated_items,
                "tokens": self.tokens, "cost": self.cost(prices), "strong_only_cost": self.strong_only_cost(prices)}

    @classmethod
    def from_meta(cls, models: tuple[str, str], meta: dict | None) -> "CascadeLedger":
        if not meta:
            return cls(models)
        return cls(models, meta["learned"], meta["threshold"], meta["sample_items"], meta["escalated_items"],
                   {role: list(pair) for role, pair in meta["tokens"].items()})
