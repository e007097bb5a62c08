"""Coercion of answers that are plainly right (engine/prompt/coerce.py), alone and through parse_result."""

import json

import pytest

from engine.errors import OutputParseError
from engine.models import EnrichParams, LabelParams
from engine.prompt.coerce import coerce
from engine.prompt.exchange import parse_result
from engine.prompt.operations import prepare

LABEL = prepare("label", LabelParams(categories=["positive", "negative", "mixed"]))
MULTI = prepare("label", LabelParams(categories=["billing", "shipping"], multi_label=True))
ENRICH = prepare("enrich", EnrichParams(fields=[
    {"name": "company_segment", "type": "categorical", "valid_values": ["enterprise", "mid-market", "smb"]},
    {"name": "estimated_arr", "type": "numeric"},
    {"name": "employees", "type": "integer"},
    {"name": "notes", "type": "text"},
]))


def test_unknown_fields_are_dropped_where_the_schema_allows_no_others():
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    assert coerce({"a": "x", "b": 1}, closed) == {"a": "x"}
    open_ = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert coerce({"a": "x", "b": 1}, open_) == {"a": "x", "b": 1}


def test_enum_labels_match_ignoring_case_and_surrounding_whitespace():
    schema = {"type": "string", "enum": ["positive", "Mid-Market"]}
    assert coerce(" Positive ", schema) == "positive"
    assert coerce("mid-market", schema) == "Mid-Market"
    assert coerce("neutral", schema) == "neutral"  # not a label: left for validation to refuse
    assert coerce("posi tive", schema) == "posi tive"
    ambiguous = {"type": "string", "enum": ["A", "a"]}
    assert coerce(" A", ambiguous) == " A"  # two labels match: not plainly one of them


def test_numbers_given_as_strings_become_numbers_where_the_field_is_numeric():
    assert coerce("500", {"type": "number"}) == 500
    assert coerce(" 0.9 ", {"type": ["number", "null"]}) == 0.9
    assert coerce("500", {"type": "integer"}) == 500 and isinstance(coerce("500.0", {"type": "integer"}), int)
    assert coerce("500.5", {"type": "integer"}) == "500.5"  # not an integer: validation says so
    assert coerce("500", {"type": "string"}) == "500"
    assert coerce("500", {"type": ["string", "number"]}) == "500"  # a string is allowed: left as given
    for text in ("about 500", "1_000", "nan", "inf", ""):
        assert coerce(text, {"type": "number"}) == text


def test_coercion_follows_arrays_and_nested_objects_without_changing_its_input():
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "labels": {"type": "array", "items": {"type": "string", "enum": ["billing", "shipping"]}},
        "inner": {"type": "object", "additionalProperties": False, "properties": {"n": {"type": "integer"}}}}}
    answer = {"labels": ["Billing", " shipping"], "inner": {"n": "3", "x": 1}, "extra": True}
    assert coerce(answer, schema) == {"labels": ["billing", "shipping"], "inner": {"n": 3}}
    assert answer["extra"] is True and answer["inner"] == {"n": "3", "x": 1}


def test_the_answers_quoted_in_the_issue_are_kept():
    # SmolLM2-135M in plain JSON mode: invented fields, no confidence.
    raw = '{"label": "positive", "confidence_low": 0.2, "description": "The customer likes the product"}'
    assert parse_result(LABEL, raw) == {"label": "positive", "confidence": None, "confidence_source": "self_reported"}
    # A label off by case and spaces, a confidence as a string.
    result = parse_result(LABEL, '{"label": " Negative", "confidence": "0.8"}')
    assert (result["label"], result["confidence"]) == ("negative", 0.8)


def test_a_label_outside_the_categories_is_still_asked_again():
    with pytest.raises(OutputParseError, match="'neutral' is not one of") as caught:
        parse_result(LABEL, '{"label": "neutral", "confidence": 0.9}')
    assert caught.value.errors == ("$.label: 'neutral' is not one of ['positive', 'negative', 'mixed']",)
    with pytest.raises(OutputParseError, match="missing required field 'label'"):
        parse_result(LABEL, '{"confidence": 0.9, "description": "x"}')


def test_a_missing_confidence_is_unknown_but_a_wrong_one_is_refused():
    assert parse_result(MULTI, '{"labels": ["Billing", "billing"]}')["labels"] == ["billing"]
    with pytest.raises(OutputParseError, match="above the maximum"):
        parse_result(LABEL, '{"label": "mixed", "confidence": 7}')
    with pytest.raises(OutputParseError, match="expected number or null"):
        parse_result(LABEL, '{"label": "mixed", "confidence": "high"}')


def test_enrich_answers_keep_their_good_fields_and_are_typed():
    raw = json.dumps({"company_segment": "Enterprise ", "estimated_arr": "500", "employees": "120",
                      "notes": "Series C", "description": "invented"})
    assert parse_result(ENRICH, raw) == {"company_segment": "enterprise", "estimated_arr": 500, "employees": 120,
                                         "notes": "Series C"}
    with pytest.raises(OutputParseError, match="estimated_arr: expected number, got string"):
        parse_result(ENRICH, json.dumps({"company_segment": "smb", "estimated_arr": "about 5M", "employees": 3,
                                         "notes": ""}))
