"""What became of one item: the statuses an item ends in.

Part of the contract every layer may use. An item ends exactly once, in one
of these; a batch's own states are `engine.models.BatchState`.
"""

from __future__ import annotations

from enum import Enum


class ItemStatus(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ITEM_STATUSES = tuple(status.value for status in ItemStatus)
