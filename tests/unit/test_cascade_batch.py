"""A cascade batch through the real Coordinator and store, over a fake pool of two models (no Ray)."""

import asyncio

import polars as pl
import pytest

from engine.batch.cascade_routing import sample_indexes
from engine.batch.coordinator import Coordinator
from engine.config import ProviderConfig, Settings
from engine.outcome import ItemStatus, Outcome
from engine.store.batch_store import BatchStore, new_batch_id

SETTINGS = Settings(providers={name: ProviderConfig(name=name, base_url=f"http://{name}/v1", api_key="k")
                               for name in ("cheap", "strong")})
CASCADE = {"models": ["cheap/gpt-4.1-nano", "strong/gpt-4.1"], "target_agreement": 0.9, "sample": 100}


class TwoModels:
    """strong: label l<i%3> always. cheap: wrong on every `wrong_every`-th item (confidence `wrong_confidence`),
    else right and sure (0.95)."""

    def __init__(self, wrong_every: int = 10, wrong_confidence: float = 0.3):
        self.wrong_every, self.wrong_confidence = wrong_every, wrong_confidence
        self.sent = {"gpt-4.1-nano": [], "gpt-4.1": []}

    async def run(self, plan, target, items):
        await asyncio.sleep(0)
        self.sent[target.model] += [item["index"] for item in items]
        return [self._answer(target.model, item["index"]) for item in items]

    def _answer(self, model, index):
        right = f"l{index % 3}"
        if model == "gpt-4.1":
            label, confidence = right, 0.99
        elif index % self.wrong_every == 0:
            label, confidence = "wrong", self.wrong_confidence
        else:
            label, confidence = right, 0.95
        return Outcome(index, ItemStatus.COMPLETED, {"label": label, "confidence": confidence}, attempts=1,
                       prompt_tokens=100, completion_tokens=10, model=model, confidence=confidence)


def make_batch(store, total: int, cascade=CASCADE) -> str:
    batch_id = new_batch_id()
    frame = pl.DataFrame({"content": [f"t{i}" for i in range(total)], "id": [None] * total,
                          "metadata": [None] * total}, schema={"content": pl.String, "id": pl.String,
                                                               "metadata": pl.String})
    meta = {"operation": "label", "params": {"categories": ["l0", "l1", "l2", "wrong"], "cascade": cascade},
            "model": "strong/gpt-4.1", "status": "queued", "options": {"cache": False}}
    store.create(batch_id, meta, [frame])
    return batch_id


def records(store, batch_id):
    return [r for chunk in store.iter_results(batch_id) for r in chunk]


@pytest.fixture
def store(tmp_path):
    return BatchStore(tmp_path / "store")


async def test_a_cascade_keeps_the_sure_answers_and_escalates_the_rest_once_each(store):
    batch_id = make_batch(store, 1000)
    pool = TwoModels()
    meta = await Coordinator(batch_id, store, pool, SETTINGS).run()
    sample = set(sample_indexes(1000, 100, batch_id))
    ledger = meta["cascade"]
    assert meta["status"] == "completed" and meta["completed_items"] == 1000
    assert ledger["learned"] and ledger["threshold"] == 0.95 and ledger["sample_items"] == 100
    wrong = {i for i in range(1000) if i % 10 == 0}
    assert sorted(pool.sent["gpt-4.1"]) == sorted(sample | wrong)  # the sample, then the unsure ones
    assert sorted(pool.sent["gpt-4.1-nano"]) == list(range(1000))  # each item once, the sample's too
    assert ledger["escalated_items"] == len(wrong - sample)
    got = records(store, batch_id)
    assert [r["index"] for r in got] == list(range(1000))
    assert all(r["result"]["label"] == f"l{r['index'] % 3}" for r in got)  # all agree with the strong model
    assert {r["model"] for r in got if r["index"] in sample | wrong} == {"gpt-4.1"}
    assert {r["model"] for r in got if r["index"] not in sample | wrong} == {"gpt-4.1-nano"}
    # Tokens: every call's; the cost prices each model's own, strong-only prices one call per item.
    calls = 1000 + len(sample | wrong)
    assert meta["usage"] == {"prompt_tokens": 100 * calls, "completion_tokens": 10 * calls}
    nano, strong = SETTINGS.prices.price_of("gpt-4.1-nano"), SETTINGS.prices.price_of("gpt-4.1")
    strong_calls = len(sample | wrong)
    assert ledger["cost"] == pytest.approx((1000 * (100 * nano.input + 10 * nano.output)
                                           + strong_calls * (100 * strong.input + 10 * strong.output)) / 1e6)
    assert ledger["strong_only_cost"] == pytest.approx(1000 * (100 * strong.input + 10 * strong.output) / 1e6)
    assert meta["estimated_cost"] == ledger["cost"] < ledger["strong_only_cost"]


async def test_with_no_threshold_the_strong_model_answers_alone(store):
    batch_id = make_batch(store, 300)
    pool = TwoModels(wrong_every=2, wrong_confidence=0.95)  # half wrong, and sure of it: nothing reaches 90%
    meta = await Coordinator(batch_id, store, pool, SETTINGS).run()
    sample = set(sample_indexes(300, 100, batch_id))
    assert meta["cascade"]["learned"] and meta["cascade"]["threshold"] is None
    assert sorted(pool.sent["gpt-4.1-nano"]) == sorted(sample)  # past the sample the cheap model is not asked
    assert sorted(pool.sent["gpt-4.1"]) == list(range(300))
    assert meta["cascade"]["escalated_items"] == 300 - len(sample)
    assert all(r["model"] == "gpt-4.1" for r in records(store, batch_id))


async def test_a_restarted_cascade_keeps_its_threshold_and_skips_the_sample(store):
    # As after a crash once the threshold was learned: the ledger is in the meta, no item has a result yet.
    batch_id = make_batch(store, 400)
    ledger = {"models": CASCADE["models"], "learned": True, "threshold": 0.9, "sample_items": 100,
              "escalated_items": 7, "tokens": {"cheap": [5, 1], "strong": [50, 10], "kept": [0, 0]}}
    store.update_meta(batch_id, status="processing", cascade=ledger)
    pool = TwoModels()
    meta = await Coordinator(batch_id, store, pool, SETTINGS).run()
    wrong = [i for i in range(400) if i % 10 == 0]
    assert sorted(pool.sent["gpt-4.1-nano"]) == list(range(400))
    assert sorted(pool.sent["gpt-4.1"]) == wrong  # no sample drawn again: only the unsure ones
    assert meta["cascade"]["threshold"] == 0.9 and meta["cascade"]["escalated_items"] == 7 + len(wrong)
    assert meta["cascade"]["tokens"]["cheap"] == [5 + 400 * 100, 1 + 400 * 10]
    assert meta["completed_items"] == 400 and len(records(store, batch_id)) == 400
