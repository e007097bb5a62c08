"""The simulator's counters and per-second timeline (`GET /sim/stats`)."""

from __future__ import annotations

import time


class Stats:
    """Counters and a per-second timeline since the last reset."""

    COUNTERS = ("requests", "accepted", "rate_limited", "server_errors", "hangs", "bad_json",
                "wrong_answers", "prompt_tokens", "completion_tokens", "max_in_flight")

    def __init__(self):
        self.in_flight = 0  # live state, not a counter: a reset must not make it negative
        self.reset()

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self.origin = time.monotonic()
        self.seconds: dict[int, list[int]] = {}  # second -> [accepted, rate_limited, in_flight_max]

    def _row(self) -> list[int]:
        second = int(time.monotonic() - self.origin)
        row = self.seconds.get(second)
        if row is None:
            row = self.seconds[second] = [0, 0, 0]
        return row

    def rate_limited(self) -> None:
        self.counts["rate_limited"] += 1
        self._row()[1] += 1

    def enter(self) -> None:
        self.in_flight += 1
        self.counts["accepted"] += 1
        self.counts["max_in_flight"] = max(self.counts["max_in_flight"], self.in_flight)
        row = self._row()
        row[0] += 1
        row[2] = max(row[2], self.in_flight)

    def leave(self) -> None:
        row = self._row()  # also marks the seconds in which calls were only waiting
        row[2] = max(row[2], self.in_flight)
        self.in_flight -= 1

    def snapshot(self) -> dict:
        last = max(self.seconds, default=-1)
        timeline = []
        for second in range(last + 1):
            accepted, limited, peak = self.seconds.get(second, (0, 0, 0))
            timeline.append({"second": second, "accepted": accepted, "rate_limited": limited,
                             "in_flight_max": peak})
        return {**self.counts, "in_flight": self.in_flight, "timeline": timeline}
