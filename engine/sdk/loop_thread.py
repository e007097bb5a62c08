"""An event loop in a thread of its own, for sync methods over async services."""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    """An event loop in a daemon thread, so sync methods work even where a loop already runs (Jupyter)."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agentflow-driver", daemon=True)
        self._thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
