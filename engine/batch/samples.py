"""Progress samples of a run, for a chart of items/s over it: bounded, the whole run kept.

A sample is [seconds since the run started, items processed in it]. Past
MAX_SAMPLES, every other sample is dropped: the chart gets coarser, never shorter.
"""

from __future__ import annotations

MAX_SAMPLES = 240


def add_sample(samples: list[list[float]], seconds: float, processed: int) -> list[list[float]]:
    """`samples` with [seconds, processed] appended (in place), thinned to at most MAX_SAMPLES."""
    samples.append([round(seconds, 3), processed])
    if len(samples) > MAX_SAMPLES:
        samples[:] = samples[-1::-2][::-1]  # every other one, the newest kept
    return samples


def rates(samples: list[list[float]]) -> list[dict]:
    """Items/s between successive samples: [{"seconds": end of the interval, "items_per_second"}]."""
    points = []
    previous = [0.0, 0]
    for seconds, processed in samples:
        span = seconds - previous[0]
        if span > 0:
            points.append({"seconds": seconds, "items_per_second": round((processed - previous[1]) / span, 2)})
        previous = [seconds, processed]
    return points
