import asyncio

from engine.batch.reuse import InFlightDuplicates, ResponseCache, Reuse, request_key
from engine.config import ProviderConfig
from engine.models import LabelParams
from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.prompt.operations import prepare
from engine.target import Target

TARGET = Target(ProviderConfig(name="openai", base_url="http://p/v1", api_key="k"), "gpt-4.1-mini")
PLAN = prepare("label", LabelParams(categories=["a", "b"]))


def outcome(index, label="a", status=ItemStatus.COMPLETED):
    return Outcome(index, status, {"label": label, "confidence": 0.5}, prompt_tokens=10, completion_tokens=5)


def test_request_key_depends_on_what_is_sent_not_on_ids():
    same = request_key(PLAN, TARGET, {"index": 0, "id": "x", "content": "hello"})
    assert same == request_key(PLAN, TARGET, {"index": 9, "id": "y", "content": "hello"})
    assert same != request_key(PLAN, TARGET, {"index": 0, "content": "hello!"})
    hotter = prepare("label", LabelParams(categories=["a", "b"], temperature=1.0))
    assert same != request_key(hotter, TARGET, {"index": 0, "content": "hello"})
    other_model = Target(TARGET.provider, "gpt-4.1")
    assert same != request_key(PLAN, other_model, {"index": 0, "content": "hello"})


def test_duplicates_in_flight_send_the_first_and_answer_the_rest():
    duplicates = InFlightDuplicates()
    first, second, third = ({"index": i, "id": str(i), "content": "same"} for i in range(3))
    assert duplicates.admit(b"k", first) is True
    assert duplicates.admit(b"k", second) is None
    copies = duplicates.resolve(b"k", outcome(0))
    assert [(c.index, c.id, c.reused, c.prompt_tokens) for c in copies] == [(1, "1", ReuseSource.FOLD, 0)]
    late = duplicates.admit(b"k", third)
    assert late.index == 2 and late.result == {"label": "a", "confidence": 0.5} and not late.cached


def test_cache_round_trip_through_the_store(tmp_path):
    cache = ResponseCache(tmp_path)
    assert cache.lookup([b"k1"]) == {}
    cache.add(b"k1", outcome(0, "b"))
    cache.add(b"k2", outcome(1, status=ItemStatus.FAILED))  # failures are not cached
    cache.flush()
    fresh = ResponseCache(tmp_path)  # another process, later
    hits = fresh.lookup([b"k1", b"k2", b"k3"])
    assert list(hits) == [b"k1"] and hits[b"k1"].result == {"label": "b", "confidence": 0.5}


def items(*contents):
    return [{"index": i, "id": f"id{i}", "content": c} for i, c in enumerate(contents)]


def test_reuse_answers_from_the_cache_and_folds_duplicates(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.add(request_key(PLAN, TARGET, {"content": "known"}), outcome(None, "b"))
    cache.flush()
    reuse = Reuse(PLAN, TARGET, ResponseCache(tmp_path), fold=True)
    answered, to_send = asyncio.run(reuse.sort(items("known", "new", "new", "other")))
    assert [(o.index, o.id, o.result["label"], o.cached) for o in answered] == [(0, "id0", "b", True)]
    assert [item["index"] for item in to_send] == [1, 3]  # item 2 waits on item 1
    copies = reuse.settle(outcome(1, "a"))
    assert [(c.index, c.id, c.reused) for c in copies] == [(2, "id2", ReuseSource.FOLD)]
    assert reuse.settle(outcome(1, "a")) == []  # settled once
    asyncio.run(reuse.flush())
    later = Reuse(PLAN, TARGET, ResponseCache(tmp_path), fold=False)
    answered, to_send = asyncio.run(later.sort(items("x", "new")))
    assert [o.index for o in answered] == [1] and [item["index"] for item in to_send] == [0]


def test_reuse_without_cache_nor_folding_sends_everything():
    reuse = Reuse(PLAN, TARGET, None, fold=False)
    answered, to_send = asyncio.run(reuse.sort(items("same", "same")))
    assert answered == [] and len(to_send) == 2 and reuse.settle(outcome(0)) == []


def test_without_folding_duplicates_are_all_sent_and_cached(tmp_path):
    reuse = Reuse(PLAN, TARGET, ResponseCache(tmp_path), fold=False)
    answered, to_send = asyncio.run(reuse.sort(items("same", "same")))
    assert answered == [] and len(to_send) == 2
    assert reuse.settle(outcome(0)) == [] and reuse.settle(outcome(1)) == []
