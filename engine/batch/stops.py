"""When a batch stops early: its budget (`max_cost`) or its error rate (`max_error_rate`).

Pure: asked before each chunk is sent, so a batch never pays for more than it was allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

BUDGET_EXCEEDED = "budget_exceeded"
ERROR_RATE_EXCEEDED = "error_rate_exceeded"
REASONS = {BUDGET_EXCEEDED: "the batch reached its max_cost",
           ERROR_RATE_EXCEEDED: "the batch exceeded its max_error_rate"}  # as the cancelled items say


@dataclass(frozen=True)
class StopRules:
    max_cost: float | None = None
    max_error_rate: float | None = None
    error_rate_min_items: int = 100  # the rate is judged only after this many items ended

    @classmethod
    def of(cls, options: dict) -> "StopRules":
        """The rules in a batch's options (its stored controls)."""
        return cls(options.get("max_cost"), options.get("max_error_rate"), options.get("error_rate_min_items", 100))

    def reason_to_stop(self, completed: int, failed: int, spent: float | None, in_flight: int) -> str | None:
        """Why the batch must stop now, or None.

        The budget counts the items in flight at the cost per item so far: they will be paid for.
        """
        ended = completed + failed
        if self.max_error_rate and ended >= self.error_rate_min_items and failed / ended > self.max_error_rate:
            return ERROR_RATE_EXCEEDED
        if self.max_cost and spent is not None:
            per_item = spent / ended if ended else 0.0
            if spent + per_item * in_flight >= self.max_cost:
                return BUDGET_EXCEEDED
        return None


def cancel_message(reason: str | None) -> str:
    """What an item that was never sent says, for the batch's stop reason."""
    return REASONS.get(reason, "the batch was cancelled")
