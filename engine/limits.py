"""A provider's rate limits, as configured or learned: part of the contract every layer may use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """A provider's limits per minute; None means not limited (or not known yet)."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
