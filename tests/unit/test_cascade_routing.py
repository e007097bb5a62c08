"""A cascade's bookkeeping (engine/batch/cascade_routing.py) and an enrich answer's confidence."""

import json
import math

import pytest

from engine.batch.cascade_routing import (
    CascadeLedger,
    cascade_cost_range,
    sample_answer,
    sample_indexes,
    trusted,
    with_spend_of,
)
from engine.config import ProviderConfig
from engine.models import EnrichParams
from engine.outcome import ItemStatus, Outcome
from engine.pricing import PriceTable
from engine.prompt.confidence import answer_confidence, fields_confidence
from engine.prompt.exchange import build_messages, request_body
from engine.prompt.fields import enrich_plan
from engine.target import Target


def done(index=0, confidence=0.9, tokens=(10, 2)):
    return Outcome(index, ItemStatus.COMPLETED, {"label": "a"}, attempts=1, prompt_tokens=tokens[0],
                   completion_tokens=tokens[1], confidence=confidence)


def test_the_sample_is_random_but_the_same_for_the_same_seed():
    first = sample_indexes(10_000, 200, "batch_a")
    assert first == sample_indexes(10_000, 200, "batch_a") and len(set(first)) == 200 and first == sorted(first)
    assert first != sample_indexes(10_000, 200, "batch_b")
    assert sample_indexes(5, 200, "x") == [0, 1, 2, 3, 4]


def test_only_a_completed_answer_with_a_confidence_at_the_threshold_stands():
    assert trusted(done(confidence=0.8), 0.8) and not trusted(done(confidence=0.79), 0.8)
    assert not trusted(done(confidence=None), 0.1)
    assert not trusted(done(confidence=0.99), None)  # no threshold: nothing cheap stands
    assert not trusted(Outcome.failed({"index": 0}, "provider_error", "x"), 0.1)


def test_a_sample_item_keeps_the_strong_answer_unless_it_failed():
    cheap, strong, failed = done(confidence=0.5), done(confidence=0.99), Outcome.failed({"index": 0}, "e", "m")
    assert sample_answer(cheap, strong) is strong
    assert sample_answer(cheap, failed) is cheap
    assert sample_answer(failed, failed) is failed
    merged = with_spend_of(done(tokens=(10, 2)), done(tokens=(7, 1)))
    assert (merged.prompt_tokens, merged.completion_tokens, merged.attempts) == (17, 3, 2)


def test_the_ledger_prices_each_model_and_round_trips_through_the_meta():
    prices = PriceTable()
    ledger = CascadeLedger(("openai/gpt-4.1-nano", "openai/gpt-4.1"))
    ledger.spent("cheap", [done(tokens=(1_000_000, 0))])  # $0.10 at nano's input price
    ledger.spent("strong", [done(tokens=(0, 1_000_000))])  # $8 at gpt-4.1's output price
    ledger.kept(done(tokens=(1_000_000, 1_000_000)))  # strong-only: $2 + $8
    ledger.learn(0.8, 200)
    meta = ledger.to_meta(prices)
    assert meta["cost"] == pytest.approx(8.10) and meta["strong_only_cost"] == pytest.approx(10.0)
    again = CascadeLedger.from_meta(ledger.models, json.loads(json.dumps(meta)))
    assert again == ledger
    assert CascadeLedger(("x/unpriced", "openai/gpt-4.1")).cost(prices) is None


def test_the_dry_run_range_runs_from_the_sample_to_both_models_on_everything():
    provider = ProviderConfig(name="openai", base_url="http://p", api_key="k")
    targets = (Target(provider, "gpt-4.1-nano"), Target(provider, "gpt-4.1"))
    low, high = cascade_cost_range(PriceTable(), targets, 1_000_000, 0, total=1000, sample=100)
    assert low == pytest.approx(0.10 + 2.0 * 0.1) and high == pytest.approx(0.10 + 2.0)


def test_an_enrich_answer_has_the_confidence_of_its_least_certain_field():
    raw = '{"segment": "smb", "employees": 40, "note": "a b"}'
    tokens = [{"token": '{"segment": ', "logprob": 0.0}, {"token": '"smb"', "logprob": math.log(0.9)},
              {"token": ', "employees": ', "logprob": 0.0}, {"token": "40", "logprob": math.log(0.6)},
              {"token": ', "note": ', "logprob": 0.0}, {"token": '"a b"', "logprob": math.log(0.95)},
              {"token": "}", "logprob": 0.0}]
    result = json.loads(raw)
    assert fields_confidence(result, raw, tokens) == 0.6
    assert answer_confidence("enrich", result, raw, tokens) == 0.6
    assert answer_confidence("enrich", result, raw, None) is None  # no logprobs: unknown
    assert answer_confidence("label", {"label": "a", "confidence": 0.7}, "", None) == 0.7
    assert answer_confidence("summarize", "text", "text", tokens) is None


def test_enrich_asks_for_logprobs_where_the_provider_gives_them():
    plan = enrich_plan(EnrichParams(fields=[{"name": "n", "type": "integer"}]))
    messages = build_messages(plan, {"content": "x"})
    assert request_body(plan, "m", messages, logprobs_supported=True)["logprobs"] is True
    assert "logprobs" not in request_body(plan, "m", messages, logprobs_supported=False)
