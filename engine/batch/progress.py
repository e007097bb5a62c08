"""A batch's running tally: how its items ended, what they used, how fast, at what cost.

Pure: the coordinator feeds it outcomes and the store's deduplicated counts,
and writes `snapshot()` into the batch's meta.
"""

from __future__ import annotations

from typing import Callable

from engine.batch.samples import add_sample
from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.pricing import PriceTable

STORED = ("completed", "failed", "cancelled", "prompt_tokens", "completion_tokens")  # what store.counts gives


class Progress:
    def __init__(self, clock: Callable[[], float], prices: PriceTable):
        self._clock = clock
        self._prices = prices
        self._started = clock()
        self._model = ""
        self._retrying = False  # a retry run: its items were counted failed already
        self._ended_this_run = 0
        self.counts = dict.fromkeys((*STORED, "cached", "folded"), 0)
        self._samples: list[list[float]] = []  # for the dashboard's chart of items/s
        self.cost_of: Callable[[], float | None] | None = None  # a cascade prices each model's own tokens

    def resume(self, meta: dict, stored: dict) -> None:
        """Start from what the batch's meta and the store hold (a first run, a restart or a retry)."""
        self._model = meta.get("model") or ""
        self._retrying = bool(meta.get("retry_requested"))
        self.counts["cached"] = meta.get("cached_items", 0)
        self.counts["folded"] = meta.get("folded_items", 0)
        self.take_stored(stored)

    def take_stored(self, stored: dict) -> None:
        """The store's deduplicated counts replace the running ones (they are exact)."""
        self.counts.update({name: stored[name] for name in STORED if name in stored})

    def count(self, outcome: Outcome) -> None:
        counts = self.counts
        self._ended_this_run += 1
        counts["cached"] += outcome.reused is ReuseSource.CACHE
        counts["folded"] += outcome.reused is ReuseSource.FOLD
        counts["prompt_tokens"] += outcome.prompt_tokens
        counts["completion_tokens"] += outcome.completion_tokens
        if not self._retrying:
            counts[outcome.status.value] += 1
        elif outcome.status is ItemStatus.COMPLETED:  # a retried item that now succeeds
            counts["failed"] -= 1
            counts["completed"] += 1

    @property
    def completed(self) -> int:
        return self.counts["completed"]

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def spent(self) -> float | None:
        """The cost of the tokens used so far (None: the model has no price)."""
        if self.cost_of is not None:
            return self.cost_of()
        return self._prices.cost(self._model, self.counts["prompt_tokens"], self.counts["completion_tokens"])

    def snapshot(self) -> dict:
        """The progress fields of the batch's meta."""
        elapsed = max(self._clock() - self._started, 1e-6)
        counts = self.counts
        return {
            "completed_items": counts["completed"],
            "failed_items": counts["failed"],
            "cancelled_items": counts["cancelled"],
            "usage": {"prompt_tokens": counts["prompt_tokens"], "completion_tokens": counts["completion_tokens"]},
            "items_per_second": round(self._ended_this_run / elapsed, 2),
            "progress_samples": add_sample(self._samples, elapsed, self._ended_this_run),
            "estimated_cost": self.spent(),
            "cached_items": counts["cached"],
            "folded_items": counts["folded"],
        }
