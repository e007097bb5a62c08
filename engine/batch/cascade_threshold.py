"""A cascade's decisions, pure: do two answers agree, and from which confidence is the cheap model trusted.

The threshold is learned from a sample both models answered. For a candidate
confidence t, take the sample items whose cheap answer had confidence >= t;
the cheap model is trusted from t on if the one-sided 95% Wilson lower bound
of its agreement with the strong model among them is >= the target. The
threshold is the lowest such t (the most items kept cheap). Each candidate is
tested at 95%, with no correction for testing many candidates: the bound is
per threshold, not simultaneous, so the guarantee is a little weaker than 95%.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

Z_95_ONE_SIDED = 1.6448536269514722  # the normal quantile of 0.95
_SPACES = re.compile(r"\s+")


def wilson_lower_bound(agreeing: int, total: int, z: float = Z_95_ONE_SIDED) -> float:
    """The Wilson score interval's lower end for `agreeing` successes out of `total` (0 when total is 0)."""
    if total <= 0:
        return 0.0
    p = agreeing / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z2 / total))


def learn_threshold(pairs: Iterable[tuple[float, bool]], target: float) -> float | None:
    """The lowest cheap confidence t whose items (confidence >= t) agree at `target`, bounded below at 95%.

    `pairs` are (the cheap answer's confidence, whether it agrees with the strong answer).
    None when no t qualifies: then every item goes to the strong model.
    """
    ranked = sorted(pairs, key=lambda pair: pair[0], reverse=True)
    threshold, total, agreeing = None, 0, 0
    for position, (confidence, agrees) in enumerate(ranked):
        total += 1
        agreeing += bool(agrees)
        tied_next = position + 1 < len(ranked) and ranked[position + 1][0] == confidence
        if not tied_next and wilson_lower_bound(agreeing, total) >= target:
            threshold = confidence  # ranked high to low: the last that qualifies is the lowest
    return threshold


def answers_agree(operation: str, first: Any, second: Any) -> bool:
    """Whether two results say the same: the label (or set of labels), or every enrich field.

    Text is compared without regard to case or runs of spaces; lists as multisets.
    """
    if not isinstance(first, dict) or not isinstance(second, dict):
        return False
    if operation == "label":
        if "labels" in first or "labels" in second:
            return _same(first.get("labels"), second.get("labels"))
        return _same(first.get("label"), second.get("label"))
    return first.keys() == second.keys() and all(_same(first[key], second[key]) for key in first)


def _same(first: Any, second: Any) -> bool:
    if isinstance(first, list) and isinstance(second, list):
        return sorted(map(_key, first)) == sorted(map(_key, second))
    return _key(first) == _key(second)


def _key(value: Any) -> str:
    """A comparable form: normalised text, numbers by value (1 == 1.0), booleans apart from numbers."""
    if isinstance(value, str):
        return "s:" + _SPACES.sub(" ", value).strip().casefold()
    if isinstance(value, bool) or value is None:
        return f"c:{value}"
    if isinstance(value, (int, float)):
        return f"n:{float(value)!r}"
    return f"o:{value!r}"
