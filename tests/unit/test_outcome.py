"""The one `Outcome` type and its rows in the store."""

import pickle

import polars as pl

from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.store.outcome_rows import OUTCOME_SCHEMA, cancelled_frame, outcome_frame, outcomes_frame, winners


def test_an_outcome_crosses_a_pickle_whole():
    outcome = Outcome(3, ItemStatus.COMPLETED, {"label": "a"}, id="x", attempts=2, prompt_tokens=7,
                      completion_tokens=1, latency_ms=1.5, service_ms=1.0, model="m", reused=ReuseSource.CACHE,
                      provider="backup")
    back = pickle.loads(pickle.dumps(outcome))
    assert back == outcome and back.status is ItemStatus.COMPLETED and back.reused is ReuseSource.CACHE
    assert not hasattr(outcome, "__dict__")  # slots: no dict per outcome


def test_a_failed_outcome_carries_its_error_and_a_reused_one_costs_nothing():
    failed = Outcome.failed({"index": 1, "id": "b", "content": "c"}, "provider_error", "boom")
    assert (failed.index, failed.id, failed.status, failed.error) == (
        1, "b", ItemStatus.FAILED, {"type": "provider_error", "message": "boom"})
    assert Outcome(0, ItemStatus.COMPLETED, "r").error is None
    paid = Outcome(0, ItemStatus.COMPLETED, "r", id="a", attempts=3, prompt_tokens=9, completion_tokens=4,
                   latency_ms=20.0, model="m", provider="backup")
    copy = paid.given_to({"index": 5, "id": "z"}, ReuseSource.FOLD)
    assert (copy.index, copy.id, copy.result, copy.model, copy.reused, copy.provider) == (
        5, "z", "r", "m", ReuseSource.FOLD, "backup")
    assert (copy.attempts, copy.prompt_tokens, copy.completion_tokens, copy.latency_ms, copy.cached) == (
        0, 0, 0, 0.0, False)


def test_outcomes_become_rows_of_the_stored_schema():
    frame = outcomes_frame([
        Outcome(0, ItemStatus.COMPLETED, {"label": "é", "n": [1, None]}, attempts=2, prompt_tokens=5,
                completion_tokens=1, latency_ms=3.5, reused=ReuseSource.CACHE, model="sim/m", confidence=0.9,
                provider="backup"),
        Outcome(1, ItemStatus.FAILED, error_type="provider_error", error_message="boom"),
        Outcome(2, ItemStatus.COMPLETED, "text", reused=ReuseSource.FOLD),
    ])
    assert dict(frame.schema) == OUTCOME_SCHEMA
    assert outcome_frame(frame).equals(frame)  # passes the store's check on write
    assert frame.to_dicts() == [
        {"index": 0, "status": "completed", "result": '{"label":"é","n":[1,null]}', "error_type": None,
         "error_message": None, "attempts": 2, "prompt_tokens": 5, "completion_tokens": 1, "latency_ms": 3.5,
         "cached": True, "model": "sim/m", "confidence": 0.9, "provider": "backup"},
        {"index": 1, "status": "failed", "result": None, "error_type": "provider_error", "error_message": "boom",
         "attempts": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_ms": 0.0, "cached": False,
         "model": None, "confidence": None, "provider": None},
        {"index": 2, "status": "completed", "result": '"text"', "error_type": None, "error_message": None,
         "attempts": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_ms": 0.0, "cached": False,
         "model": None, "confidence": None, "provider": None},
    ]


def test_cancelled_rows_for_indexes():
    frame = cancelled_frame(pl.Series("index", [4, 9]), "the batch was cancelled")
    assert dict(frame.schema) == OUTCOME_SCHEMA
    assert frame.to_dicts()[1] == {
        "index": 9, "status": "cancelled", "result": None, "error_type": "cancelled",
        "error_message": "the batch was cancelled", "attempts": 0, "prompt_tokens": 0, "completion_tokens": 0,
        "latency_ms": 0.0, "cached": False, "model": None, "confidence": None,
        "provider": None}


def test_results_written_before_the_provider_column_read_with_it_empty():
    new = outcomes_frame([Outcome(1, ItemStatus.COMPLETED, "b", provider="backup")])
    old = outcomes_frame([Outcome(0, ItemStatus.COMPLETED, "a")]).drop("provider")  # a file from before the field
    rows = winners([old.lazy(), new.lazy()]).collect()
    assert rows.select("index", "provider").to_dicts() == [{"index": 0, "provider": None},
                                                           {"index": 1, "provider": "backup"}]
