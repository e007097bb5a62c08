from engine.batch.reuse import Folder, ResponseCache, request_key
from engine.config import ProviderConfig
from engine.models import LabelParams
from engine.prompt.operations import prepare
from engine.target import Target

TARGET = Target(ProviderConfig(name="openai", base_url="http://p/v1", api_key="k"), "gpt-4.1-mini")
PLAN = prepare("label", LabelParams(categories=["a", "b"]))


def outcome(index, label="a", status="completed"):
    return {"index": index, "status": status, "result": {"label": label, "confidence": 0.5}, "error": None,
            "prompt_tokens": 10, "completion_tokens": 5}


def test_request_key_depends_on_what_is_sent_not_on_ids():
    same = request_key(PLAN, TARGET, {"index": 0, "id": "x", "content": "hello"})
    assert same == request_key(PLAN, TARGET, {"index": 9, "id": "y", "content": "hello"})
    assert same != request_key(PLAN, TARGET, {"index": 0, "content": "hello!"})
    hotter = prepare("label", LabelParams(categories=["a", "b"], temperature=1.0))
    assert same != request_key(hotter, TARGET, {"index": 0, "content": "hello"})
    other_model = Target(TARGET.provider, "gpt-4.1")
    assert same != request_key(PLAN, other_model, {"index": 0, "content": "hello"})


def test_folder_sends_the_first_and_answers_the_rest():
    folder = Folder()
    first, second, third = ({"index": i, "id": str(i), "content": "same"} for i in range(3))
    assert folder.admit(b"k", first) is True
    assert folder.admit(b"k", second) is None
    copies = folder.resolve(b"k", outcome(0))
    assert [(c["index"], c["id"], c["folded"], c["prompt_tokens"]) for c in copies] == [(1, "1", True, 0)]
    late = folder.admit(b"k", third)
    assert late["index"] == 2 and late["result"] == {"label": "a", "confidence": 0.5}


def test_cache_round_trip_through_the_store(tmp_path):
    cache = ResponseCache(tmp_path)
    assert cache.lookup([b"k1"]) == {}
    cache.add(b"k1", outcome(0, "b"))
    cache.add(b"k2", outcome(1, status="failed"))  # failures are not cached
    cache.flush()
    fresh = ResponseCache(tmp_path)  # another process, later
    hits = fresh.lookup([b"k1", b"k2", b"k3"])
    assert list(hits) == [b"k1"] and hits[b"k1"]["result"] == {"label": "b", "confidence": 0.5}
