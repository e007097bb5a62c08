"""`Coordinator`: drives one batch from its stored input to a terminal status.

Plain async code that takes its store and caller pool in; the Ray actor
(`BatchCoordinatorActor`) is a thin shell around it. All durable state is in
the store, so a coordinator that restarts simply runs again: items with a
terminal result are skipped, the rest are sent (at least once; the store
keeps exactly one result per item). Its parts each own their state: the
`Dispatcher` (chunks, backpressure), `Reuse` (cache, duplicates in flight),
`StopRules` (budget, error rate) and `Progress` (counts); the coordinator
reads the store, writes it (always off the event loop) and decides when to stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from functools import partial
from typing import Callable

import polars as pl

from engine.batch.calls import CallerPool, cascade_targets, plan_request
from engine.batch.cascade_batch import CascadeBatch
from engine.batch.cascade_routing import CascadeLedger, sample_indexes
from engine.batch.dispatch import Dispatcher, chunks
from engine.batch.progress import Progress
from engine.batch.reuse import ResponseCache, Reuse
from engine.batch.stops import StopRules, cancel_message
from engine.config import Settings
from engine.errors import AgentFlowError
from engine.models import FINISHED_STATES, PARAMS
from engine.outcome import Outcome
from engine.store.outcome_rows import cancelled_frame, outcomes_frame

log = logging.getLogger("agentflow.coordinator")

SHARD_SIZE = 2_000  # input rows read from the store at a time
CANCEL_SHARD_SIZE = 50_000  # input rows read at a time to end the unsent items as cancelled
FLUSH_SECONDS = 0.5  # results are buffered this long before a store write


def input_items(frame) -> list[dict]:
    items = []
    for row in frame.iter_rows(named=True):
        item = {"index": row.get("index"), "content": row["content"]}
        if row.get("id") is not None:
            item["id"] = row["id"]
        if row.get("metadata"):
            item["metadata"] = json.loads(row["metadata"])
        items.append(item)
    return items


class Coordinator:
    def __init__(self, batch_id: str, store, pool: CallerPool, settings: Settings,
                 clock: Callable[[], float] = time.monotonic, max_in_flight: int | None = None):
        self.batch_id = batch_id
        self._store = store
        self._settings = settings
        self._pool = pool
        self._provider = None  # the batch's provider, once its meta is read: its concurrency is shown
        limit = max_in_flight or settings.callers * settings.caller_concurrency
        self._dispatch = Dispatcher(pool, clock, limit, self._settle)
        self._progress = Progress(clock, settings.prices)
        self._stops = StopRules()  # the batch's own, once its meta is read
        self._reuse: Reuse | None = None  # made for the batch's plan, once its meta is read
        self._unwritten: list[Outcome] = []  # flushed to the store every FLUSH_SECONDS
        self._cancel_reason: str | None = None
        self._cascade: CascadeBatch | None = None  # a cascade batch's flow (engine/batch/cascade_batch.py)

    # ---- control ------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop dispatch and cancel the calls in flight; the rest is marked cancelled."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
            self._dispatch.cancel()

    def _stop(self, reason: str) -> None:
        """Stop dispatch but let the calls in flight finish (they are paid for)."""
        if self._cancel_reason is None:
            log.warning("batch %s stops: %s", self.batch_id, reason)
            self._cancel_reason = reason

    @property
    def cancelling(self) -> bool:
        return self._cancel_reason is not None

    # ---- the run ------------------------------------------------------------

    async def run(self) -> dict:
        meta = await asyncio.to_thread(self._store.read_meta, self.batch_id)
        if meta["status"] in FINISHED_STATES and not meta.get("retry_requested"):
            return meta
        try:
            params = PARAMS[meta["operation"]].model_validate(meta["params"])
            plan, target = plan_request(self._settings, meta["operation"], params)
            if params.cascade is not None:
                self._cascade = self._cascade_of(meta, params.cascade, plan)
        except AgentFlowError as exc:
            return await self._finish("failed", error=exc.to_dict())
        self._provider = target.provider
        await self._resume(meta, plan, target)
        reporter = asyncio.create_task(self._report_progress())
        try:
            await self._send_all(plan, target, retrying=bool(meta.get("retry_requested")),
                                 total=meta.get("total_items", 0))
        finally:
            reporter.cancel()
        await self._flush()
        if self.cancelling:
            await asyncio.to_thread(self._cancel_unsent, cancel_message(self._cancel_reason))
            return await self._finish("cancelled", cancel_reason=self._cancel_reason)
        return await self._finish("completed")

    async def _resume(self, meta: dict, plan, target) -> None:
        """Take up the batch where its meta and results stand; mark it processing (or cancelling)."""
        options = meta.get("options") or {}
        self._stops = StopRules.of(options)
        cache = ResponseCache(self._settings.store) if options.get("cache") else None
        self._reuse = Reuse(plan, target, cache, fold=True)
        self._progress.resume(meta, await asyncio.to_thread(self._store.counts, self.batch_id))
        if meta.get("cancel_requested"):
            self._cancel_reason = meta.get("cancel_reason") or "cancelled"
        changes = {"status": "cancelling" if self.cancelling else "processing"}
        if not meta.get("started_at") or meta.get("retry_requested"):
            changes["started_at"] = time.time()
        await asyncio.to_thread(self._store.update_meta, self.batch_id, **changes)

    def _cascade_of(self, meta: dict, spec, plan) -> CascadeBatch:
        cheap, strong = cascade_targets(self._settings, spec)
        ledger = CascadeLedger.from_meta((cheap.display_model, strong.display_model), meta.get("cascade"))
        self._progress.cost_of = partial(ledger.cost, self._settings.prices)
        return CascadeBatch(spec, plan, cheap, strong, ledger, self._dispatch, self._emit, self._should_stop)

    async def _send_all(self, plan, target, retrying: bool, total: int) -> None:
        """Every item without a terminal result (or, on a retry, a failed one) is answered or sent."""
        done = await asyncio.to_thread(self._store.done_indexes, self.batch_id, not retrying)
        cascade = self._cascade
        if cascade is not None and not cascade.ledger.learned:  # a cascade's first step: its sample
            sample = await asyncio.to_thread(self._sample_items, total, cascade.spec.sample)
            learned = await cascade.learn(sample, set(done.filter(done.is_in([i["index"] for i in sample]))))
            done = done.append(pl.Series("index", sorted(learned), dtype=pl.Int64))
        shards = await asyncio.to_thread(self._store.iter_input, self.batch_id, shard_size=SHARD_SIZE, skip=done)
        while not self.cancelling:
            items = await asyncio.to_thread(self._next_items, shards)
            if items is None:
                break
            if cascade is not None:
                await cascade.send(items)
                continue
            answered, to_send = await self._reuse.sort(items)
            self._emit(answered)
            for chunk in chunks(to_send):
                await self._dispatch.wait_for_room(len(chunk))
                self._check_stops()
                if self.cancelling:
                    break
                self._dispatch.launch(plan, target, chunk)
        await self._dispatch.drain()

    def _sample_items(self, total: int, size: int) -> list[dict]:
        """A cascade's sample, drawn at random seeded by the batch id: one pass over the input."""
        wanted = pl.Series("index", sample_indexes(total, size, self.batch_id), dtype=pl.Int64).implode()
        items = []
        for frame in self._store.iter_input(self.batch_id, shard_size=SHARD_SIZE):
            items += input_items(frame.filter(pl.col("index").is_in(wanted)))
        return items

    def _should_stop(self) -> bool:
        self._check_stops()
        return self.cancelling

    def _snapshot(self) -> dict:
        """The progress fields of the meta (and a cascade's ledger)."""
        snapshot = self._progress.snapshot()
        if self._cascade is not None:
            snapshot["cascade"] = self._cascade.ledger.to_meta(self._settings.prices)
        return snapshot

    @staticmethod
    def _next_items(shards) -> list[dict] | None:
        frame = next(shards, None)
        return None if frame is None else input_items(frame)

    def _check_stops(self) -> None:
        progress = self._progress
        reason = self._stops.reason_to_stop(progress.completed, progress.failed, progress.spent(),
                                            self._dispatch.in_flight)
        if reason is not None:
            self._stop(reason)

    def _settle(self, outcomes: list[Outcome]) -> None:
        """A chunk's outcomes came back: they, and the identical items that waited on them, end."""
        self._emit(outcomes)
        for outcome in outcomes:
            self._emit(self._reuse.settle(outcome))

    def _emit(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self._progress.count(outcome)
        self._unwritten += outcomes

    # ---- store I/O (in threads: never on the event loop) -------------------------

    async def _flush(self) -> None:
        outcomes, self._unwritten = self._unwritten, []
        await asyncio.to_thread(self._persist, outcomes)
        if self._reuse is not None:
            await self._reuse.flush()

    def _persist(self, outcomes: list[Outcome]) -> None:
        """Append the outcomes, then fsync: a lost machine loses at most one flush interval of them."""
        if outcomes:
            self._store.write_results(self.batch_id, outcomes_frame(outcomes))
        self._store.sync(self.batch_id)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()
            changes = {**self._snapshot(), "concurrency": await self._concurrency()}
            meta = await asyncio.to_thread(self._store.update_meta, self.batch_id, **changes)
            if meta.get("cancel_requested") and not self.cancelling:
                self.cancel(meta.get("cancel_reason") or "cancelled")

    async def _concurrency(self) -> dict | None:
        """The provider's concurrency limit now ({limit, in_flight, source}); None if it cannot be read."""
        try:
            return (await self._pool.concurrency(self._provider)).as_dict()
        except Exception:  # noqa: BLE001 - the status can do without it; the batch must not stop for it
            log.warning("batch %s: the concurrency limit could not be read", self.batch_id, exc_info=True)
            return None

    def _cancel_unsent(self, message: str) -> None:
        """End as cancelled every item still without a result (never sent, or its call was cancelled)."""
        done = self._store.done_indexes(self.batch_id)
        for frame in self._store.iter_input(self.batch_id, shard_size=CANCEL_SHARD_SIZE, skip=done):
            self._store.write_results(self.batch_id, cancelled_frame(frame["index"], message))

    async def _finish(self, status: str, **extra) -> dict:
        await asyncio.to_thread(self._store.compact, self.batch_id)
        self._progress.take_stored(await asyncio.to_thread(self._store.counts, self.batch_id))
        if self._provider is not None:
            extra["concurrency"] = await self._concurrency()
        return await asyncio.to_thread(
            self._store.update_meta, self.batch_id, status=status, finished_at=time.time(),
            retry_requested=False, **self._snapshot(), **extra,
        )
