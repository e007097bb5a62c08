import json
import threading

import polars as pl
import pytest

import engine.store.batch_store
from engine.errors import NotFound
from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.store.batch_store import (
    BatchStore,
    new_batch_id,
    validate_batch_id,
)
from engine.store.files import write_parquet
from engine.store.outcome_rows import outcomes_frame
from engine.store.result_reads import winning_records as _winners


def items(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {"content": [f"text {i}" for i in range(start, start + n)],
         "id": [f"id-{i}" if i % 2 == 0 else None for i in range(start, start + n)],
         "metadata": [json.dumps({"n": i}) for i in range(start, start + n)]},
        schema={"content": pl.String, "id": pl.String, "metadata": pl.String},
    )


def outcome(index: int, status: str = "completed", label: str = "positive", tokens: int = 10) -> dict:
    failed = status != "completed"
    return {
        "index": index, "status": status,
        "result": None if failed else json.dumps({"label": label, "confidence": 0.9}),
        "error_type": "provider_error" if failed else None, "error_message": "boom" if failed else None,
        "attempts": 1, "prompt_tokens": tokens, "completion_tokens": 2, "latency_ms": 5.0, "cached": False,
    }


@pytest.fixture
def store(tmp_path):
    return BatchStore(tmp_path / "store")


def make(store: BatchStore, sizes=(3, 4), **meta) -> str:
    batch_id = new_batch_id()
    frames, start = [], 0
    for size in sizes:
        frames.append(items(size, start))
        start += size
    store.create(batch_id, {"status": "queued", "created_at": 1.0, **meta}, frames)
    return batch_id


def records(store: BatchStore, batch_id: str, **kwargs) -> list[dict]:
    return [r for chunk in store.iter_results(batch_id, **kwargs) for r in chunk]


def test_create_and_read_meta(store, tmp_path):
    batch_id = make(store, sizes=(3, 4), operation="label")
    meta = store.read_meta(batch_id)
    assert (meta["total_items"], meta["operation"], meta["batch_id"]) == (7, "label", batch_id)
    # no temporary directory left behind
    assert [p.name for p in (tmp_path / "store" / "batches").iterdir()] == [batch_id]


def test_create_with_no_items(store):
    batch_id = new_batch_id()
    assert store.create(batch_id, {"status": "queued"}, []) == 0
    assert records(store, batch_id) == [] and list(store.iter_input(batch_id)) == []


def test_failed_create_leaves_nothing(store, tmp_path):
    def broken():
        yield items(2)
        raise RuntimeError("upload interrupted")

    batch_id = new_batch_id()
    with pytest.raises(RuntimeError):
        store.create(batch_id, {}, broken())
    assert list((tmp_path / "store" / "batches").iterdir()) == []
    with pytest.raises(NotFound):
        store.read_meta(batch_id)


def test_update_meta_is_atomic_and_merges(store):
    batch_id = make(store)
    threads = [threading.Thread(target=store.update_meta, args=(batch_id,), kwargs={f"k{i}": i}) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    meta = store.update_meta(batch_id, status="processing")
    assert meta["status"] == "processing" and all(meta[f"k{i}"] == i for i in range(8))
    assert store.read_meta(batch_id) == meta
    leftovers = [p.name for p in store._path(batch_id).iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("bad", ["../x", "batch_/..", "batch_../../etc", "", "batch_" + "a" * 65, "batch_abc",
                                 "batch_abcdefgh\n", "batch_abcd\x00efgh", "batch_abcd/efgh", None, 42])
def test_invalid_ids_are_not_found(store, bad):
    with pytest.raises(NotFound) as info:
        validate_batch_id(bad)
    assert info.value.field == "batch_id"
    for call in (store.read_meta, store.delete, store.counts, store.done_indexes):
        with pytest.raises(NotFound):
            call(bad)


def test_unknown_batch_is_not_found(store):
    unknown = new_batch_id()
    assert validate_batch_id(unknown) == unknown
    for call in (store.read_meta, store.counts, store.done_indexes, store.delete, store.compact):
        with pytest.raises(NotFound):
            call(unknown)
    with pytest.raises(NotFound):
        store.update_meta(unknown, status="x")
    with pytest.raises(NotFound):
        list(store.iter_input(unknown))


def test_iter_input_in_order_across_parts_and_with_skip(store):
    batch_id = make(store, sizes=(3, 4, 5))
    frames = list(store.iter_input(batch_id, shard_size=5))
    assert [f.height for f in frames] == [5, 5, 2]
    whole = pl.concat(frames)
    assert whole["index"].to_list() == list(range(12))
    assert whole["content"].to_list() == [f"text {i}" for i in range(12)]
    assert whole["id"][1] is None and json.loads(whole["metadata"][4]) == {"n": 4}

    kept = pl.concat(store.iter_input(batch_id, start=2, shard_size=4, skip={3, 7, 8}))
    assert kept["index"].to_list() == [2, 4, 5, 6, 9, 10, 11]
    store.write_results(batch_id, [outcome(0), outcome(5)])
    kept = pl.concat(store.iter_input(batch_id, skip=store.done_indexes(batch_id)))
    assert kept["index"].to_list() == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_duplicate_writes_appear_once(store):
    batch_id = make(store)
    store.write_results(batch_id, [outcome(0), outcome(1, tokens=100)])
    store.write_results(batch_id, [outcome(1, label="negative", tokens=100)])  # an at-least-once redelivery
    store.write_results(batch_id, pl.DataFrame([outcome(2, "failed"), outcome(2, "failed")]))
    got = records(store, batch_id)
    assert [r["index"] for r in got] == list(range(7))
    assert got[1]["result"] == {"label": "positive", "confidence": 0.9}  # the first completed wins
    assert got[2]["error"] == {"type": "provider_error", "message": "boom"}
    assert store.counts(batch_id) == {"completed": 2, "failed": 1, "cancelled": 0,
                                      "prompt_tokens": 120, "completion_tokens": 6}


def test_failed_is_upgraded_to_completed_never_the_reverse(store):
    batch_id = make(store)
    store.write_results(batch_id, [outcome(0, "failed"), outcome(1), outcome(2, "cancelled")])
    assert store.done_indexes(batch_id, include_failed=False).to_list() == [1, 2]
    store.write_results(batch_id, [outcome(0), outcome(1, "failed"), outcome(2)])
    got = records(store, batch_id, limit=3)
    assert [r["status"] for r in got] == ["completed", "completed", "completed"]
    assert got[0]["error"] is None and got[1]["result"]["label"] == "positive"
    assert store.counts(batch_id)["failed"] == 0


def test_pending_items_and_pagination(store):
    batch_id = make(store, sizes=(3, 4))
    store.write_results(batch_id, [outcome(4), outcome(1, "failed")])
    got = records(store, batch_id, chunk_rows=2)
    assert [r["status"] for r in got] == ["pending", "failed", "pending", "pending", "completed", "pending", "pending"]
    assert got[0] == {"index": 0, "id": "id-0", "status": "pending", "result": None, "error": None,
                      "attempts": 0, "cached": False, "model": None, "confidence": None,
                      "provider": None}
    page = records(store, batch_id, offset=2, limit=3, chunk_rows=2)
    assert [(r["index"], r["id"]) for r in page] == [(2, "id-2"), (3, None), (4, "id-4")]
    assert [len(chunk) for chunk in store.iter_results(batch_id, offset=1, limit=5, chunk_rows=2)] == [2, 2, 1]
    assert records(store, batch_id, offset=7) == [] and records(store, batch_id, offset=6, limit=10)[0]["index"] == 6


def test_compact_keeps_records_and_removes_duplicates(store):
    batch_id = make(store, sizes=(5, 5))
    store.write_results(batch_id, [outcome(i, "failed") for i in range(0, 6)])
    store.write_results(batch_id, [outcome(i) for i in range(4, 9)])
    store.write_results(batch_id, [outcome(i, label="late") for i in range(2, 5)], writer="other")
    before, counts = records(store, batch_id), store.counts(batch_id)
    store.compact(batch_id)
    parts = list((store._path(batch_id) / "results").glob("*"))
    assert [p.name for p in parts] == ["part-00000002-compact.parquet"]  # after logs 0 (w) and 1 (other)
    assert pl.read_parquet(parts[0])["index"].to_list() == list(range(9))
    assert records(store, batch_id) == before and store.counts(batch_id) == counts
    store.compact(batch_id)  # nothing left to merge
    assert records(store, batch_id) == before


def test_crash_during_compact_reads_the_same(store):
    batch_id = make(store, sizes=(6,))
    for rows in ([outcome(0, "failed"), outcome(1)], [outcome(0, label="first"), outcome(1, label="dup")],
                 [outcome(0, label="second"), outcome(2, "cancelled")]):
        store.write_results(batch_id, rows)
        store.close(batch_id)  # as a restarted process would: each write in a log of its own
    before = records(store, batch_id)
    parts = store._result_files(batch_id)
    assert [p.name for p in parts] == [f"log-{seq:08d}-w.aflog" for seq in range(3)]
    merged = _winners(parts).collect()
    write_parquet(parts[0].parent / "part-00000003-compact.parquet", merged)
    for part in reversed(parts):  # compact's order; check each intermediate state
        assert records(store, batch_id) == before
        part.unlink()
    assert records(store, batch_id) == before
    assert before[0]["result"]["label"] == "first" and before[1]["result"]["label"] == "positive"


def test_retry_after_compact_upgrades(store):
    batch_id = make(store, sizes=(3,))
    store.write_results(batch_id, [outcome(0), outcome(1, "failed"), outcome(2, "failed")])
    store.write_results(batch_id, [outcome(2, "failed")])
    store.compact(batch_id)
    store.write_results(batch_id, [outcome(1)])
    assert [r["status"] for r in records(store, batch_id)] == ["completed", "completed", "failed"]
    assert store.done_indexes(batch_id).to_list() == [0, 1, 2]


def test_done_indexes_after_partial_writes(store):
    batch_id = make(store, sizes=(10,))
    assert store.done_indexes(batch_id).to_list() == []
    store.write_results(batch_id, [outcome(7), outcome(2, "failed")])
    store.write_results(batch_id, [outcome(2), outcome(9, "cancelled")])
    done = store.done_indexes(batch_id)
    assert done.to_list() == [2, 7, 9] and 7 in done and 3 not in done and len(done) == 3


def test_write_results_rejects_bad_rows(store):
    batch_id = make(store)
    with pytest.raises(ValueError):
        store.write_results(batch_id, [outcome(0, "pending")])
    with pytest.raises(ValueError):
        store.write_results(batch_id, [outcome(0)], writer="../x")
    store.write_results(batch_id, [])
    assert store._result_files(batch_id) == []


def test_list_batches_newest_first_and_by_owner(store):
    old = make(store, owner="a", created_at=100.0)
    new = make(store, owner="b", created_at=300.0)
    mid = make(store, owner="a", created_at=200.0)
    assert [m["batch_id"] for m in store.list_batches()] == [new, mid, old]
    assert [m["batch_id"] for m in store.list_batches(owner="a")] == [mid, old]
    assert store.list_batches(owner="nobody") == []
    assert BatchStore(store.root / "elsewhere").list_batches() == []


def test_delete_and_expired(store):
    keep = make(store, expires_at=500.0)
    gone = make(store, expires_at=100.0)
    make(store)  # no expiry
    assert store.expired(now=200.0) == [gone]
    store.delete(gone)
    with pytest.raises(NotFound):
        store.read_meta(gone)
    assert [m["batch_id"] for m in store.list_batches()] != [] and store.expired(now=600.0) == [keep]
    assert [p.name for p in store._batches.iterdir() if p.name.startswith(".")] == []


def test_write_order_holds_across_many_parts(store):
    # enough rows and files for polars to read in parallel: the rule must still see write order
    batch_id = make(store, sizes=(5000,))
    for part in range(12):
        frame = pl.DataFrame([outcome(i, "failed") for i in range(5000)]).with_columns(
            error_message=pl.lit(f"attempt {part}"))
        store.write_results(batch_id, frame)
        if part in (4, 9):
            store.write_results(batch_id, [outcome(i, label=f"from {part}") for i in range(0, 5000, 7)])
    got = records(store, batch_id, chunk_rows=1500)
    assert {r["error"]["message"] for r in got if r["status"] == "failed"} == {"attempt 0"}
    assert {r["result"]["label"] for r in got if r["status"] == "completed"} == {"from 4"}
    assert store.counts(batch_id)["completed"] == len(range(0, 5000, 7))


def test_compact_dedups_a_single_part_and_writes_unsynced(tmp_path):
    store = BatchStore(tmp_path, sync_seconds=None)
    batch_id = make(store, sizes=(3,))
    store.write_results(batch_id, [outcome(1, "failed"), outcome(0), outcome(1)])
    store.compact(batch_id)
    (part,) = store._result_files(batch_id)
    assert pl.read_parquet(part)["status"].to_list() == ["completed", "completed"]


def test_reading_while_compaction_removes_parts(store, monkeypatch):
    batch_id = make(store, sizes=(4,))
    store.write_results(batch_id, [outcome(0)])
    store.write_results(batch_id, [outcome(1)])
    stale = store._result_files(batch_id)
    store.compact(batch_id)
    listings = iter([stale])
    real = BatchStore._result_files
    monkeypatch.setattr(BatchStore, "_result_files", lambda self, b: next(listings, None) or real(self, b))
    assert [r["status"] for r in records(store, batch_id)] == ["completed", "completed", "pending", "pending"]


def test_a_torn_last_write_is_skipped_and_a_restarted_writer_starts_a_new_log(store):
    batch_id = make(store, sizes=(6,))
    store.write_results(batch_id, [outcome(0), outcome(1)])
    store.write_results(batch_id, [outcome(2), outcome(3, "failed")])
    (log,) = store._result_files(batch_id)
    whole = log.read_bytes()
    log.write_bytes(whole[:-40])  # a crash in the middle of the second write
    assert [r["status"] for r in records(store, batch_id)] == ["completed", "completed"] + ["pending"] * 4
    restarted = BatchStore(store.root)  # a new process: never appends after a torn tail
    restarted.write_results(batch_id, [outcome(2), outcome(3, "failed")])
    assert [p.name for p in restarted._result_files(batch_id)] == [log.name, "log-00000001-w.aflog"]
    assert restarted.done_indexes(batch_id).to_list() == [0, 1, 2, 3]
    log.write_bytes(whole[:10])  # not even the first record's length is whole
    assert restarted.done_indexes(batch_id).to_list() == [2, 3]


def test_a_log_damaged_by_a_lost_machine_is_read_up_to_the_damage(store):
    batch_id = make(store, sizes=(6,))
    store.write_results(batch_id, [outcome(0), outcome(1)])
    store.write_results(batch_id, [outcome(2), outcome(3)])
    (log,) = store._result_files(batch_id)
    whole = log.read_bytes()
    # An append that never reached the disk can read back as zeros: its length is whole, its bytes are not.
    log.write_bytes(whole[:-60] + bytes(60))
    assert store.done_indexes(batch_id).to_list() == [0, 1]
    log.write_bytes(b"not a results log at all")
    assert store.done_indexes(batch_id).to_list() == []


def test_a_full_log_is_closed_and_the_next_write_starts_another(store, monkeypatch):
    monkeypatch.setattr(engine.store.batch_store, "LOG_ROWS", 4)
    batch_id = make(store, sizes=(12,))
    for start in range(0, 12, 3):
        store.write_results(batch_id, [outcome(i) for i in range(start, start + 3)])
    names = [p.name for p in store._result_files(batch_id)]
    assert names == ["log-00000000-w.aflog", "log-00000001-w.aflog"]  # 6 rows, then 6 more
    assert [r["index"] for r in records(store, batch_id, chunk_rows=5) if r["status"] == "completed"] == list(range(12))
    store.compact(batch_id)
    assert [p.name for p in store._result_files(batch_id)] == ["part-00000002-compact.parquet"]


def test_jsonl_from_frames_holds_the_same_records_as_from_dicts(store):
    from loaders.export import iter_jsonl, iter_jsonl_frames

    batch_id = new_batch_id()
    ids = ['quote " and\nnewline', None, "é ünïcode", None, "=1+1", None]
    store.create(batch_id, {}, [pl.DataFrame({"content": ["x"] * 6, "id": ids, "metadata": [None] * 6},
                                             schema={"content": pl.String, "id": pl.String, "metadata": pl.String})])
    store.write_results(batch_id, outcomes_frame([
        Outcome(0, ItemStatus.COMPLETED, attempts=2,
                result={"label": 'p"ö', "confidence": 0.5, "list": [1, None], "nested": {"result": None}}),
        Outcome(1, ItemStatus.FAILED, error_type="provider_error", error_message='bad "x"\n'),
        Outcome(2, ItemStatus.COMPLETED, "plain text", reused=ReuseSource.CACHE),
        Outcome(4, ItemStatus.CANCELLED, error_type="cancelled", error_message="stop"),
    ]))
    from_dicts = b"".join(iter_jsonl(records(store, batch_id))).decode().splitlines()
    from_frames = b"".join(iter_jsonl_frames(store.iter_result_frames(batch_id, chunk_rows=4))).decode().splitlines()
    assert [json.loads(line) for line in from_frames] == [json.loads(line) for line in from_dicts]
    assert len(from_frames) == 6 and json.loads(from_frames[3])["status"] == "pending"
    assert list(iter_jsonl_frames(store.iter_result_frames(batch_id, offset=6))) == []


def test_csv_from_frames_is_the_csv_of_the_records(store):
    from loaders.export import iter_csv, iter_csv_frames

    batch_id = new_batch_id()
    ids = ["=HYPERLINK(x)", None, "é ünïcode, \"quoted\"", None, "-1", None, "+x"]
    store.create(batch_id, {}, [pl.DataFrame({"content": ["x"] * 7, "id": ids, "metadata": [None] * 7},
                                             schema={"content": pl.String, "id": pl.String, "metadata": pl.String})])
    store.write_results(batch_id, outcomes_frame([
        Outcome(0, ItemStatus.COMPLETED, attempts=2,
                result={"label": "=cmd", "confidence": 1e-05, "labels": ["a", None, 3], "ok": True,
                        "nested": {"k": [1, "v"]}, "delta": -3, "text": "line\r\nbreak"}),
        Outcome(1, ItemStatus.FAILED, error_type="provider_error", error_message="@bad\n"),
        Outcome(2, ItemStatus.COMPLETED, "plain text", reused=ReuseSource.CACHE),
        Outcome(4, ItemStatus.CANCELLED, error_type="cancelled", error_message="stop"),
        Outcome(5, ItemStatus.COMPLETED, {"label": "b", "extra": None}),
    ]))
    for columns in (None, ["label", "labels", "result", "missing"], []):
        for rows in (3, 10_000):
            from_records = b"".join(iter_csv(records(store, batch_id), result_columns=columns, chunk_rows=rows))
            frames = store.iter_result_frames(batch_id, chunk_rows=rows)
            assert b"".join(iter_csv_frames(frames, result_columns=columns)) == from_records, (columns, rows)
    assert b"".join(iter_csv_frames(store.iter_result_frames(batch_id, offset=7))) == b"".join(iter_csv([]))


def test_pages_read_while_a_log_grows_see_every_write(store, monkeypatch):
    monkeypatch.setattr(engine.store.batch_store, "LOG_ROWS", 4)
    batch_id = make(store, sizes=(12,))
    store.write_results(batch_id, [outcome(0), outcome(1)])
    page = lambda offset: [r["status"] for r in records(store, batch_id, offset=offset, limit=2)]  # noqa: E731
    assert page(0) == ["completed"] * 2  # the log's range, 0-1, is now remembered
    store.write_results(batch_id, [outcome(2), outcome(3, "failed")])  # the same log grows to 0-3
    assert page(2) == ["completed", "failed"]
    store.write_results(batch_id, [outcome(4), outcome(3)])  # a new log; 3 is completed there
    assert page(2) == ["completed", "completed"] and page(4) == ["completed", "pending"]
    store.compact(batch_id)  # the logs go; the merged part takes their place
    assert page(2) == ["completed", "completed"] and page(4) == ["completed", "pending"]
