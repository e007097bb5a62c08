"""The coordinator's parts, and the coordinator over a real store (tmp dir) and a small fake caller pool.

No Ray. The store is wrapped to check that no store call runs on the event loop's thread.
"""

import asyncio
import threading

import polars as pl
import pytest

import engine.batch.dispatch as dispatch
from engine.batch.coordinator import Coordinator
from engine.batch.dispatch import Dispatcher
from engine.batch.progress import Progress
from engine.batch.service import BatchService, run_name
from engine.batch.stops import BUDGET_EXCEEDED, ERROR_RATE_EXCEEDED, StopRules
from engine.config import ProviderConfig, Settings
from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.pricing import PriceTable
from engine.provider.concurrency import ConcurrencyLimit
from engine.store.batch_store import BatchStore, new_batch_id

SETTINGS = Settings(providers={"openai": ProviderConfig(name="openai", base_url="http://p/v1", api_key="k")})


class FakePool:
    """Answers every item `label: a` with 10+5 tokens; `gate` (an Event) holds the calls; `fail` the contents to fail."""

    def __init__(self, gate: asyncio.Event | None = None, fail=frozenset(), broken_calls: int = 0):
        self.gate, self.fail, self.broken_calls = gate, fail, broken_calls
        self.sent: list[int] = []
        self.in_flight = self.max_in_flight = 0

    async def concurrency(self, provider):
        return ConcurrencyLimit(configured=provider.max_concurrency).view()

    async def run(self, plan, target, items):
        if self.broken_calls:
            self.broken_calls -= 1
            raise ConnectionError("actor lost")
        self.in_flight += len(items)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
        finally:
            self.in_flight -= len(items)
        self.sent += [item["index"] for item in items]
        return [Outcome.failed(item, "provider_error", "no") if item["content"] in self.fail else
                Outcome(item["index"], ItemStatus.COMPLETED, {"label": "a", "confidence": 0.5}, id=item.get("id"),
                        attempts=1, prompt_tokens=10, completion_tokens=5, service_ms=1.0)
                for item in items]


class OffLoopStore:
    """The real store; fails the test when one of its calls runs on the event loop's thread."""

    def __init__(self, store: BatchStore, loop_thread: int):
        self._store, self._loop_thread, self.calls = store, loop_thread, 0

    def __getattr__(self, name):
        method = getattr(self._store, name)

        def checked(*args, **kwargs):
            assert threading.get_ident() != self._loop_thread, f"store.{name} ran on the event loop"
            self.calls += 1
            result = method(*args, **kwargs)
            return self._checked_iter(name, result) if name == "iter_input" else result

        return checked

    def _checked_iter(self, name, frames):
        for frame in frames:
            assert threading.get_ident() != self._loop_thread, f"store.{name} read on the event loop"
            yield frame


def make_batch(store: BatchStore, contents: list[str], **options) -> str:
    batch_id = new_batch_id()
    frame = pl.DataFrame({"content": contents, "id": [f"id{i}" for i in range(len(contents))],
                          "metadata": [None] * len(contents)},
                         schema={"content": pl.String, "id": pl.String, "metadata": pl.String})
    meta = {"operation": "label", "params": {"categories": ["a", "b"]}, "model": "openai/gpt-4.1-mini",
            "status": "queued", "options": {"cache": False, **options}}
    store.create(batch_id, meta, [frame])
    return batch_id


def statuses(store: BatchStore, batch_id: str) -> list[str]:
    return [r["status"] for chunk in store.iter_results(batch_id) for r in chunk]


async def run(store: BatchStore, batch_id: str, pool, **kwargs) -> tuple[dict, OffLoopStore]:
    checked = OffLoopStore(store, threading.get_ident())
    return await Coordinator(batch_id, checked, pool, SETTINGS, **kwargs).run(), checked


@pytest.fixture
def store(tmp_path):
    return BatchStore(tmp_path / "store")


async def test_every_item_ends_once_and_duplicates_are_sent_once(store):
    contents = [f"text {i % 30}" for i in range(100)]  # 30 distinct, 70 duplicates
    batch_id = make_batch(store, contents)
    pool = FakePool()
    meta, checked = await run(store, batch_id, pool)
    assert checked.calls > 5  # every one of them off the loop
    assert meta["status"] == "completed" and meta["completed_items"] == 100
    assert meta["folded_items"] == 70 and sorted(pool.sent) == list(range(30))
    assert meta["usage"] == {"prompt_tokens": 300, "completion_tokens": 150}  # folded ones paid nothing
    records = [r for chunk in store.iter_results(batch_id) for r in chunk]
    assert [r["id"] for r in records] == [f"id{i}" for i in range(100)]
    assert all(r["result"] == {"label": "a", "confidence": 0.5} for r in records)


async def test_a_cancel_ends_the_followers_of_cancelled_leaders_as_cancelled(store):
    batch_id = make_batch(store, [f"text {i % 10}" for i in range(60)])
    pool = FakePool(gate=asyncio.Event())  # the 10 leaders hang in flight; 50 followers wait on them
    coordinator = Coordinator(batch_id, OffLoopStore(store, threading.get_ident()), pool, SETTINGS)
    task = asyncio.create_task(coordinator.run())
    while pool.in_flight < 10:
        await asyncio.sleep(0.01)
    coordinator.cancel("cancelled")  # as the actor does
    meta = await task
    assert meta["status"] == "cancelled"
    assert statuses(store, batch_id) == ["cancelled"] * 60  # leaders and followers alike, each once
    assert meta["cancelled_items"] == 60 and pool.sent == []


async def test_the_window_bounds_what_is_in_flight():
    gate = asyncio.Event()
    pool = FakePool(gate=gate)
    ended: list[Outcome] = []
    sender = Dispatcher(pool, clock=lambda: 0.0, max_in_flight=1000, on_outcomes=ended.extend)
    items = [{"index": i, "content": "x"} for i in range(16)]
    launched = 0
    for _ in range(10):
        waiting = asyncio.ensure_future(sender.wait_for_room(16))
        await asyncio.sleep(0.01)
        if not waiting.done():  # full: 2 x the minimum window (64 items) before any measurement
            break
        sender.launch(None, None, items)
        launched += 1
    assert launched == 4 and sender.in_flight == 64
    gate.set()
    await waiting
    await sender.drain()
    assert pool.max_in_flight == 64 and len(ended) == 64 and sender.in_flight == 0


async def test_a_chunk_lost_every_time_fails_its_items(monkeypatch):
    monkeypatch.setattr(dispatch, "RETRY_PAUSE", 0.0)
    ended: list[Outcome] = []
    sender = Dispatcher(FakePool(broken_calls=dispatch.CHUNK_RETRIES), lambda: 0.0, 100, ended.extend)
    sender.launch(None, None, [{"index": 0, "content": "x"}, {"index": 1, "content": "y"}])
    await sender.drain()
    assert [(o.index, o.status, o.error_type) for o in ended] == [
        (0, ItemStatus.FAILED, "internal_error"), (1, ItemStatus.FAILED, "internal_error")]


async def test_a_chunk_lost_once_is_sent_again(monkeypatch, store):
    monkeypatch.setattr(dispatch, "RETRY_PAUSE", 0.0)
    batch_id = make_batch(store, [f"t{i}" for i in range(20)])
    meta, _ = await run(store, batch_id, FakePool(broken_calls=1))
    assert meta["completed_items"] == 20


async def test_the_error_rate_stops_the_batch(store):
    batch_id = make_batch(store, [f"bad {i}" for i in range(200)], max_error_rate=0.5, error_rate_min_items=20)
    meta, _ = await run(store, batch_id, FakePool(fail={f"bad {i}" for i in range(200)}), max_in_flight=32)
    assert meta["status"] == "cancelled" and meta["cancel_reason"] == ERROR_RATE_EXCEEDED
    assert 20 <= meta["failed_items"] < 200 and meta["failed_items"] + meta["cancelled_items"] == 200
    records = [r for chunk in store.iter_results(batch_id) for r in chunk]
    assert {r["error"]["message"] for r in records if r["status"] == "cancelled"} == {
        "the batch exceeded its max_error_rate"}


async def test_the_budget_stops_the_batch_before_it_is_spent(store):
    per_item = PriceTable().cost("openai/gpt-4.1-mini", 10, 5)
    batch_id = make_batch(store, [f"t{i}" for i in range(300)], max_cost=per_item * 100)
    meta, _ = await run(store, batch_id, FakePool(), max_in_flight=32)
    assert meta["status"] == "cancelled" and meta["cancel_reason"] == BUDGET_EXCEEDED
    # The rule counts the items in flight, not the chunk it lets go: it may overshoot by that chunk.
    assert meta["completed_items"] <= 100 + dispatch.CHUNK_SIZE
    assert meta["completed_items"] + meta["cancelled_items"] == 300


async def test_a_retry_sends_only_the_failed_items_and_fixes_the_counts(store):
    batch_id = make_batch(store, [f"t{i}" for i in range(40)])
    meta, _ = await run(store, batch_id, FakePool(fail={"t3", "t7"}))
    assert (meta["completed_items"], meta["failed_items"]) == (38, 2)
    store.update_meta(batch_id, status="queued", retry_requested=True)
    pool = FakePool()
    meta, _ = await run(store, batch_id, pool)
    assert sorted(pool.sent) == [3, 7] and (meta["completed_items"], meta["failed_items"]) == (40, 0)


async def test_each_retry_is_a_run_of_its_own_name(store):
    # The first run's coordinator exits after writing "completed": a retry asked meanwhile must
    # start a coordinator of another name, not reach that exiting one (engine.ray.actors).
    batch_id = make_batch(store, ["t0", "t1"])
    store.update_meta(batch_id, owner="o")
    meta, _ = await run(store, batch_id, FakePool(fail={"t1"}))
    assert run_name(batch_id, meta) == batch_id
    service = BatchService(SETTINGS, store, runner=None)  # retry_prepare only stores
    names = []
    for _ in range(2):
        service.retry_prepare(batch_id, "o")
        names.append(run_name(batch_id, store.read_meta(batch_id)))
        store.update_meta(batch_id, status="completed")  # as if the retry failed the item again
    assert names == [f"{batch_id}-retry-1", f"{batch_id}-retry-2"]


def test_stop_rules():
    rules = StopRules(max_cost=1.0, max_error_rate=0.1, error_rate_min_items=10)
    assert rules.reason_to_stop(completed=5, failed=4, spent=0.1, in_flight=0) is None  # too few to judge
    assert rules.reason_to_stop(completed=8, failed=2, spent=0.1, in_flight=0) == ERROR_RATE_EXCEEDED
    assert rules.reason_to_stop(completed=10, failed=0, spent=0.5, in_flight=10) == BUDGET_EXCEEDED  # in flight counts
    assert rules.reason_to_stop(completed=10, failed=0, spent=0.5, in_flight=9) is None
    assert StopRules.of({}).reason_to_stop(0, 1000, 1e9, 10) is None


def test_progress_counts_reuse_and_retries():
    progress = Progress(clock=lambda: 0.0, prices=PriceTable())
    progress.resume({"model": "openai/gpt-4.1-mini", "cached_items": 2}, {"completed": 3, "failed": 1})
    progress.count(Outcome(0, ItemStatus.COMPLETED, "r", prompt_tokens=10, completion_tokens=5))
    progress.count(Outcome(1, ItemStatus.COMPLETED, "r", reused=ReuseSource.CACHE))
    progress.count(Outcome(2, ItemStatus.FAILED, reused=ReuseSource.FOLD))
    snapshot = progress.snapshot()
    assert (snapshot["completed_items"], snapshot["failed_items"], snapshot["cached_items"],
            snapshot["folded_items"]) == (5, 2, 3, 1)
    assert snapshot["usage"] == {"prompt_tokens": 10, "completion_tokens": 5}
    assert snapshot["estimated_cost"] == PriceTable().cost("openai/gpt-4.1-mini", 10, 5)
    retry = Progress(clock=lambda: 0.0, prices=PriceTable())
    retry.resume({"retry_requested": True}, {"completed": 3, "failed": 2})
    retry.count(Outcome(0, ItemStatus.COMPLETED, "r"))
    retry.count(Outcome(1, ItemStatus.FAILED))
    assert (retry.completed, retry.failed) == (4, 1)
