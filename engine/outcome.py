"""What became of one item: its `Outcome`, and the statuses an item ends in.

Part of the contract every layer may use. An item ends exactly once, in one
of these; a batch's own states are `engine.models.BatchState`. The caller
makes an `Outcome` per item; the coordinator, the sync service and the store
all take it as it is (it crosses Ray pickled, 16 to a chunk: slots, no dicts).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class ItemStatus(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ITEM_STATUSES = tuple(status.value for status in ItemStatus)


class ReuseSource(str, Enum):
    """Where a reused answer came from (nothing was paid for it)."""

    CACHE = "cached"  # the response cache, from an earlier batch or call
    FOLD = "folded"  # an identical item of the same batch


@dataclass(slots=True)
class Outcome:
    """One item's end: its result or its error, and what it cost."""

    index: int | None
    status: ItemStatus
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    id: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    service_ms: float = 0.0  # time spent at the provider (the in-flight window learns from it)
    model: str | None = None  # the model the provider says answered
    reused: ReuseSource | None = None
    confidence: float | None = None  # the answer's own (engine/prompt/confidence.py); None if unknown
    provider: str | None = None  # the configured provider that was called last (a fallback's name when it answered)

    def __reduce__(self):
        # A plain tuple of the fields: pickled and unpickled 3x faster than the slots' default state.
        return Outcome, (self.index, self.status, self.result, self.error_type, self.error_message, self.id,
                         self.attempts, self.prompt_tokens, self.completion_tokens, self.latency_ms,
                         self.service_ms, self.model, self.reused, self.confidence,
                         self.provider)

    @classmethod
    def failed(cls, item: dict, error_type: str, message: str, status: ItemStatus = ItemStatus.FAILED) -> "Outcome":
        """`item` ends without a result (failed, or cancelled)."""
        return cls(item.get("index"), status, error_type=error_type, error_message=message, id=item.get("id"))

    @property
    def error(self) -> dict | None:
        """The error as the API shows it ({type, message}), or None."""
        return None if self.error_type is None else {"type": self.error_type, "message": self.error_message}

    @property
    def cached(self) -> bool:
        return self.reused is ReuseSource.CACHE

    def given_to(self, item: dict, source: ReuseSource) -> "Outcome":
        """This answer, reused for `item`: its own index and id, nothing paid."""
        return Outcome(item.get("index"), self.status, self.result, self.error_type, self.error_message,
                       item.get("id"), model=self.model, reused=source, confidence=self.confidence,
                       provider=self.provider)
