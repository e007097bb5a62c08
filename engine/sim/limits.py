"""The simulator's rate limits: one second of burst of its requests/min and tokens/min, as OpenAI quantises them."""

from __future__ import annotations

import math
import time

from engine.provider.ratelimit import TokenBucket


def reset_duration(seconds: float) -> str:
    """OpenAI's reset format: "250ms", "1s", "1m30s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    return f"{int(seconds // 60)}m{round(seconds % 60, 3):g}s"


def _second_bucket(per_minute: float) -> TokenBucket:
    burst = max(1.0, per_minute / 60)
    return TokenBucket(per_minute / 60, burst, time.monotonic, level=burst)


class Limits:
    """Requests and tokens buckets holding one second of the per-minute limits, starting full."""

    def __init__(self, rpm: float | None, tpm: float | None):
        self.rows = [(name, limit, _second_bucket(limit)) for name, limit in (("requests", rpm), ("tokens", tpm)) if limit]

    def admit(self, tokens: int) -> tuple[str, float] | None:
        """Charge both buckets and return None, or (refusing limit, seconds to wait) charging nothing."""
        amounts = {"requests": 1, "tokens": tokens}
        refusal = None
        for name, _, bucket in self.rows:
            # A call larger than the burst passes once the bucket is full, leaving it in debt.
            wait = bucket.seconds_until(min(amounts[name], bucket.capacity))
            if wait > 0 and (refusal is None or wait > refusal[1]):
                refusal = (name, wait)
        if refusal is None:
            for name, _, bucket in self.rows:
                bucket.reserve(amounts[name])
        return refusal

    def headers(self) -> dict[str, str]:
        out = {}
        for name, limit, bucket in self.rows:
            level = bucket.level
            out[f"x-ratelimit-limit-{name}"] = str(int(limit)) if limit == int(limit) else str(limit)
            out[f"x-ratelimit-remaining-{name}"] = str(max(0, int(level)))
            out[f"x-ratelimit-reset-{name}"] = reset_duration((bucket.capacity - level) / bucket.rate)
        return out
