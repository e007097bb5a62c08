"""`Coordinator`: drives one batch from its stored input to a terminal status.

Plain async code that takes its store and caller pool in; the Ray actor
(`BatchCoordinatorActor`) is a thin shell around it. All durable state is in
the store, so a coordinator that restarts simply runs again: items with a
terminal result are skipped, the rest are sent (at least once; the store
keeps exactly one result per item).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable

from engine.batch.reuse import Folder, ResponseCache, request_key, reused_outcome
from engine.batch.samples import add_sample
from engine.batch.sync import CallerPool, plan_request
from engine.batch.window import InFlightWindow
from engine.config import Settings
from engine.errors import AgentFlowError
from engine.models import FINISHED_STATES, PARAMS

log = logging.getLogger("agentflow.coordinator")

CHUNK_SIZE = 16  # items per caller-actor call: amortises the round trip, keeps dispatch even
SHARD_SIZE = 2_000  # input rows read from the store at a time
FLUSH_SECONDS = 0.5  # results are buffered this long before a store write
CHUNK_RETRIES = 3


def outcome_record(outcome: dict) -> dict:
    """A caller outcome as a store row."""
    error = outcome.get("error") or {}
    result = outcome.get("result")
    return {
        "index": outcome["index"],
        "status": outcome["status"],
        "result": None if result is None else json.dumps(result, ensure_ascii=False, separators=(",", ":")),
        "error_type": error.get("type"),
        "error_message": error.get("message"),
        "attempts": outcome.get("attempts", 0),
        "prompt_tokens": outcome.get("prompt_tokens", 0),
        "completion_tokens": outcome.get("completion_tokens", 0),
        "latency_ms": float(outcome.get("latency_ms") or 0.0),
        "cached": bool(outcome.get("cached", False)),
    }


def cancelled_record(index: int, reason: str = "the batch was cancelled") -> dict:
    return outcome_record({"index": index, "status": "cancelled", "error": {"type": "cancelled", "message": reason}})


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
        self._pool = pool
        self._settings = settings
        self._clock = clock
        limit = max_in_flight or settings.callers * settings.caller_concurrency
        self._window = InFlightWindow(clock, minimum=2 * CHUNK_SIZE, maximum=max(limit, 2 * CHUNK_SIZE))
        self._buffer: list[dict] = []
        self._tasks: set[asyncio.Task] = set()
        self._in_flight = 0
        self._cancel_reason: str | None = None
        self._retrying = False
        self._options: dict = {}
        self._model = ""
        self._folder = Folder()
        self._cache: ResponseCache | None = None
        self._keys: dict[int, bytes] = {}  # index -> request key, for items in flight
        self.counts = {"completed": 0, "failed": 0, "cancelled": 0, "prompt_tokens": 0, "completion_tokens": 0,
                       "cached": 0, "folded": 0}
        self._processed_this_run = 0
        self._started = clock()
        self._samples: list[list[float]] = []  # for the dashboard's chart of items/s (engine.batch.samples)

    # ---- control ------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop dispatch and cancel the calls in flight; the rest is marked cancelled."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
            for task in list(self._tasks):
                task.cancel()

    def _stop(self, reason: str) -> None:
        """Stop dispatch but let the calls in flight finish (they are paid for)."""
        if self._cancel_reason is None:
            log.warning("batch %s stops: %s", self.batch_id, reason)
            self._cancel_reason = reason

    def _check_limits(self) -> None:
        """Budget and fail-fast: stop before paying for more than was allowed."""
        processed = self.counts["completed"] + self.counts["failed"]
        max_rate, min_items = self._options.get("max_error_rate"), self._options.get("error_rate_min_items", 100)
        if max_rate and processed >= min_items and self.counts["failed"] / processed > max_rate:
            self._stop("error_rate_exceeded")
        max_cost, spent = self._options.get("max_cost"), self._spent()
        if max_cost and spent is not None:
            per_item = spent / processed if processed else 0.0
            if spent + per_item * self._in_flight >= max_cost:
                self._stop("budget_exceeded")

    def _spent(self) -> float | None:
        return self._settings.prices.cost(self._model, self.counts["prompt_tokens"], self.counts["completion_tokens"])

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
        except AgentFlowError as exc:
            return await self._finish("failed", error=exc.to_dict())
        await self._load_progress(meta)
        reporter = asyncio.create_task(self._report_progress())
        try:
            await self._dispatch(plan, target)
        finally:
            reporter.cancel()
        await self._flush()
        if self.cancelling:
            await self._cancel_remaining()
            return await self._finish("cancelled", cancel_reason=self._cancel_reason)
        return await self._finish("completed")

    async def _load_progress(self, meta: dict) -> None:
        self._retrying = bool(meta.get("retry_requested"))
        self._options = meta.get("options") or {}
        self._model = meta.get("model") or ""
        self._cache = ResponseCache(self._settings.store) if self._options.get("cache") else None
        self.counts["cached"] = meta.get("cached_items", 0)
        self.counts["folded"] = meta.get("folded_items", 0)
        counts = await asyncio.to_thread(self._store.counts, self.batch_id)
        self.counts.update({k: counts[k] for k in counts if k in self.counts})
        if meta.get("cancel_requested"):
            self._cancel_reason = meta.get("cancel_reason") or "cancelled"
        changes = {"status": "cancelling" if self.cancelling else "processing"}
        if not meta.get("started_at") or self._retrying:
            changes["started_at"] = time.time()
        await asyncio.to_thread(self._store.update_meta, self.batch_id, **changes)

    async def _dispatch(self, plan, target) -> None:
        done = await asyncio.to_thread(self._store.done_indexes, self.batch_id, not self._retrying)
        shards = self._store.iter_input(self.batch_id, shard_size=SHARD_SIZE, skip=done)
        while not self.cancelling:
            frame = await asyncio.to_thread(next, shards, None)
            if frame is None:
                break
            items = await self._reuse(plan, target, input_items(frame))
            for start in range(0, len(items), CHUNK_SIZE):
                chunk = items[start : start + CHUNK_SIZE]
                while self._tasks and self._in_flight + len(chunk) > self._window.size:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                self._check_limits()
                if self.cancelling:
                    break
                self._launch(plan, target, chunk)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reuse(self, plan, target, items: list[dict]) -> list[dict]:
        """Answer what the cache or an identical item can answer; return the items to send."""
        keys = [self._key(plan, target, item) for item in items]
        hits = await asyncio.to_thread(self._cache.lookup, [k for k in keys if k]) if self._cache else {}
        to_send = []
        for item, key in zip(items, keys):
            if key is None:
                to_send.append(item)
            elif key in hits:
                self._emit(reused_outcome(item, hits[key], "cached"))
            else:
                admitted = self._folder.admit(key, item)
                if admitted is True:
                    self._keys[item["index"]] = key
                    to_send.append(item)
                elif admitted is not None:
                    self._emit(admitted)
        return to_send

    @staticmethod
    def _key(plan, target, item: dict) -> bytes | None:
        try:
            return request_key(plan, target, item)
        except AgentFlowError:
            return None  # e.g. a template field missing from this item: the caller reports it

    def _emit(self, outcome: dict) -> None:
        self._count(outcome)
        self._buffer.append(outcome_record(outcome))

    def _launch(self, plan, target, chunk: list[dict]) -> None:
        task = asyncio.create_task(self._run_chunk(plan, target, chunk))
        self._in_flight += len(chunk)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self._in_flight -= len(chunk)

        task.add_done_callback(done)

    async def _run_chunk(self, plan, target, chunk: list[dict]) -> None:
        for attempt in range(1, CHUNK_RETRIES + 1):
            try:
                outcomes = await self._pool.run(plan, target, chunk)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost actor call must not lose the items
                log.warning("chunk of %d items failed (%s), attempt %d", len(chunk), type(exc).__name__, attempt)
                await asyncio.sleep(0.5 * attempt)
        else:
            error = {"type": "internal_error", "message": "the item could not be dispatched"}
            outcomes = [{**item, "status": "failed", "error": error} for item in chunk]
        self._window.record(len(outcomes), sum(o.get("service_ms") or 0 for o in outcomes) / 1000)
        for outcome in outcomes:
            self._emit(outcome)
            key = self._keys.pop(outcome["index"], None)
            if key is not None:
                for copy in self._folder.resolve(key, outcome):
                    self._emit(copy)
                if self._cache is not None:
                    self._cache.add(key, outcome)

    def _count(self, outcome: dict) -> None:
        status = outcome["status"]
        self._processed_this_run += 1
        self.counts["cached"] += bool(outcome.get("cached"))
        self.counts["folded"] += bool(outcome.get("folded"))
        self.counts["prompt_tokens"] += outcome.get("prompt_tokens") or 0
        self.counts["completion_tokens"] += outcome.get("completion_tokens") or 0
        if self._retrying:  # a retried item was counted failed already
            if status == "completed":
                self.counts["failed"] -= 1
                self.counts["completed"] += 1
            return
        self.counts[status] += 1

    # ---- store I/O ------------------------------------------------------------

    async def _flush(self) -> None:
        records, self._buffer = self._buffer, []
        await asyncio.to_thread(self._persist, records)
        if self._cache is not None:
            await asyncio.to_thread(self._cache.flush)

    def _persist(self, records: list[dict]) -> None:
        """Append the outcomes, then fsync: a lost machine loses at most one flush interval of them."""
        if records:
            self._store.write_results(self.batch_id, records)
        self._store.sync(self.batch_id)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()
            meta = await asyncio.to_thread(self._store.update_meta, self.batch_id, **self._progress())
            if meta.get("cancel_requested") and not self.cancelling:
                self.cancel(meta.get("cancel_reason") or "cancelled")

    def _progress(self) -> dict:
        elapsed = max(self._clock() - self._started, 1e-6)
        return {
            "completed_items": self.counts["completed"],
            "failed_items": self.counts["failed"],
            "cancelled_items": self.counts["cancelled"],
            "usage": {"prompt_tokens": self.counts["prompt_tokens"],
                      "completion_tokens": self.counts["completion_tokens"]},
            "items_per_second": round(self._processed_this_run / elapsed, 2),
            "progress_samples": add_sample(self._samples, elapsed, self._processed_this_run),
            "estimated_cost": self._spent(),
            "cached_items": self.counts["cached"],
            "folded_items": self.counts["folded"],
        }

    async def _cancel_remaining(self) -> None:
        done = await asyncio.to_thread(self._store.done_indexes, self.batch_id)
        reason = {"budget_exceeded": "the batch reached its max_cost",
                  "error_rate_exceeded": "the batch exceeded its max_error_rate"}.get(
            self._cancel_reason, "the batch was cancelled")
        for frame in self._store.iter_input(self.batch_id, shard_size=50_000, skip=done):
            records = [cancelled_record(i, reason) for i in frame["index"].to_list()]
            await asyncio.to_thread(self._store.write_results, self.batch_id, records)

    async def _finish(self, status: str, **extra) -> dict:
        await asyncio.to_thread(self._store.compact, self.batch_id)
        counts = await asyncio.to_thread(self._store.counts, self.batch_id)
        self.counts.update({k: counts[k] for k in counts if k in self.counts})
        progress = self._progress()
        return await asyncio.to_thread(
            self._store.update_meta, self.batch_id, status=status, finished_at=time.time(),
            retry_requested=False, **progress, **extra,
        )
