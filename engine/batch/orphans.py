"""Which unfinished batches no coordinator drives any more.

A running coordinator rewrites its batch's meta every FLUSH_SECONDS (its
progress), so a meta left unchanged for ORPHAN_SECONDS has lost its
coordinator: the process or the Ray instance that ran it ended (a crash, or a
driver script that returned without waiting). Only such a batch is launched
again by someone else. Launching one that is still driven would be harmless in
the same Ray (the coordinator is a named actor), but in another Ray sharing
the store (a service and a driver script in one directory) it would run every
item twice.

"Unchanged" is seen on this process's own clock, between two looks at the
meta's version (its mtime): nothing compares a file's time with a clock of
another machine.
"""

from __future__ import annotations

import time
from typing import Callable, Hashable, Iterable

ORPHAN_SECONDS = 10.0  # 20 of a coordinator's progress writes


class QuietWatch:
    """How long each key has kept one version, as seen by whoever asks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._seen: dict[Hashable, tuple[object, float]] = {}  # key -> (version, first seen at it)

    def quiet_for(self, key: Hashable, version: object) -> float:
        """Seconds since `key` was first seen at `version` (0 the first time, and after every change)."""
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None or seen[0] != version:
            self._seen[key] = (version, now)
            return 0.0
        return now - seen[1]

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        """Forget every other key (finished or deleted batches)."""
        keep = set(keys)
        self._seen = {key: seen for key, seen in self._seen.items() if key in keep}
