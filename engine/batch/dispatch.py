"""Sending a batch's items to the caller pool in chunks, with backpressure.

At most the in-flight window's worth of items are out at once (see
`engine.batch.window`); each chunk's outcomes go to `on_outcomes` as it
returns. A chunk whose actor call fails is sent again; after CHUNK_RETRIES its
items fail, so none is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from engine.batch.calls import CallerPool
from engine.batch.window import InFlightWindow
from engine.outcome import Outcome
from engine.prompt.plan import OperationPlan
from engine.target import Target

log = logging.getLogger("agentflow.coordinator")

CHUNK_SIZE = 16  # items per caller-actor call: amortises the round trip, keeps dispatch even
CHUNK_RETRIES = 3
RETRY_PAUSE = 0.5  # seconds, times the attempt, between sends of a failed chunk


def chunks(items: list[dict], size: int = CHUNK_SIZE) -> list[list[dict]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class Dispatcher:
    def __init__(self, pool: CallerPool, clock: Callable[[], float], max_in_flight: int,
                 on_outcomes: Callable[[list[Outcome]], None]):
        self._pool = pool
        self._window = InFlightWindow(clock, minimum=2 * CHUNK_SIZE, maximum=max(max_in_flight, 2 * CHUNK_SIZE))
        self._on_outcomes = on_outcomes
        self._tasks: set[asyncio.Task] = set()
        self.in_flight = 0  # items sent whose outcomes have not come back

    async def wait_for_room(self, items: int) -> None:
        """Return once `items` more fit in the window (at once when nothing is in flight)."""
        while self._tasks and self.in_flight + items > self._window.size:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    def launch(self, plan: OperationPlan, target: Target, chunk: list[dict],
               on_outcomes: Callable[[list[Outcome]], None] | None = None) -> None:
        """Send `chunk`; its outcomes (in chunk order) go to `on_outcomes`, else to the dispatcher's own."""
        task = asyncio.create_task(self._run_chunk(plan, target, chunk, on_outcomes or self._on_outcomes))
        self.in_flight += len(chunk)
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            self.in_flight -= len(chunk)

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for every chunk in flight (cancelled ones included, and those launched meanwhile)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> None:
        """Cancel the chunks in flight: their items get no outcome here."""
        for task in list(self._tasks):
            task.cancel()

    async def _run_chunk(self, plan: OperationPlan, target: Target, chunk: list[dict],
                         on_outcomes: Callable[[list[Outcome]], None]) -> None:
        for attempt in range(1, CHUNK_RETRIES + 1):
            try:
                outcomes = await self._pool.run(plan, target, chunk)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost actor call must not lose the items
                log.warning("chunk of %d items failed (%s), attempt %d", len(chunk), type(exc).__name__, attempt,
                            exc_info=attempt == CHUNK_RETRIES)
                await asyncio.sleep(RETRY_PAUSE * attempt)
        else:
            outcomes = [Outcome.failed(item, "internal_error", "the item could not be dispatched") for item in chunk]
        self._window.record(len(outcomes), sum(outcome.service_ms for outcome in outcomes) / 1000)
        on_outcomes(outcomes)
