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
    e.RequestRefused("Input should be 'text'", 500, part="response_format", provider="local"),
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
    assert not e.is_retryable(e.RequestRefused("validation error", 500))  # deterministic, whatever the status


def test_a_refusal_names_the_provider_and_what_it_refused():
    refused = e.RequestRefused("Input should be 'text' or 'json_object'", 500, part="response_format")
    assert refused.message == "the provider refused the request's response_format (500): Input should be 'text' or 'json_object'"
    named = refused.naming("local")
    assert named.message.startswith("provider 'local' refused the request's response_format (500)")
    assert named.to_dict() == {"type": "provider_http_error", "message": named.message}


def test_a_422_lists_its_field_in_details_as_pydantic_422s_do():
    assert e.InvalidRequest("bad", field="items.0").to_dict() == {
        "type": "invalid_request", "message": "bad", "field": "items.0",
        "details": [{"field": "items.0", "message": "bad"}]}
    assert "details" not in e.NotFound("gone", field="batch_id").to_dict()
    assert e.ConfigurationError("no key", field="model").to_dict()["field"] == "model"
