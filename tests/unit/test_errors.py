import pickle

import pytest

from engine import errors as e

CASES = [
    e.AgentFlowError("boom"),
    e.InvalidRequest("bad", field="items.0.content"),
    e.PayloadTooLarge("big", field="items"),
    e.NotFound("gone", field="batch_id"),
    e.ConfigurationError("no key"),
    e.ConfigurationError("unknown provider", field="model"),
    e.RateLimited("slow down", retry_after=1.5),
    e.ProviderHTTPError("down", status=503),
    e.ProviderTimeout("late"),
    e.ProviderConnectionError("reset"),
    e.OutputParseError("bad json", raw="{", errors=("expected }",)),
]


@pytest.mark.parametrize("error", CASES, ids=lambda x: type(x).__name__)
def test_pickle_round_trip_keeps_every_attribute(error):
    # Ray pickles exceptions between processes; extra __init__ args need __reduce__.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert copy.to_dict() == error.to_dict()


def test_retryable_decision():
    assert e.is_retryable(e.RateLimited("x"))
    assert e.is_retryable(e.ProviderHTTPError("x", 500))
    assert e.is_retryable(e.ProviderTimeout("x"))
    assert e.is_retryable(e.ProviderConnectionError("x"))
    assert not e.is_retryable(e.ProviderHTTPError("x", 400))
    assert not e.is_retryable(e.ProviderHTTPError("x", 401))
    assert not e.is_retryable(e.InvalidRequest("x"))


def test_a_422_lists_its_field_in_details_as_pydantic_422s_do():
    assert e.InvalidRequest("bad", field="items.0").to_dict() == {
        "type": "invalid_request", "message": "bad", "field": "items.0",
        "details": [{"field": "items.0", "message": "bad"}]}
    assert "details" not in e.NotFound("gone", field="batch_id").to_dict()
    assert e.ConfigurationError("no key", field="model").to_dict()["field"] == "model"
