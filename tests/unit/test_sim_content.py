import json
import random

import jsonschema
import pytest

from engine.sim.content import generate_content, token_logprobs, truncate_json

LABELS = ["billing", "shipping", "product", "other"]
SCHEMAS = {
    "label": {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": LABELS},
                       "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                       "rationale": {"type": "string"}},
        "required": ["label", "confidence", "rationale"],
        "additionalProperties": False,
    },
    "multi_label": {
        "type": "object",
        "properties": {"labels": {"type": "array", "items": {"type": "string", "enum": LABELS}, "uniqueItems": True},
                       "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
        "required": ["labels", "confidence"],
        "additionalProperties": False,
    },
    "enrich": {
        "type": "object",
        "properties": {"score": {"type": "number"}, "count": {"type": "integer", "minimum": 1, "maximum": 5},
                       "flag": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
                       "tone": {"type": "string", "enum": ["calm", "angry"]}},
        "required": ["score", "count", "flag", "tags", "tone"],
        "additionalProperties": False,
    },
    "bounds": {
        "type": "object",
        "properties": {"open": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
                       "few": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
                       "above": {"type": "integer", "minimum": 1000},
                       "below": {"type": "number", "maximum": -5},
                       "code": {"type": "string", "minLength": 12, "maxLength": 14},
                       "short": {"type": "string", "maxLength": 3},
                       "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                       "when": {"type": "string", "format": "date"}},
    },
    "refs_and_unions": {
        "type": "object",
        "properties": {"person": {"$ref": "#/$defs/person"},
                       "legacy": {"$ref": "#/definitions/flag"},
                       "maybe": {"type": ["string", "null"]},
                       "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                       "one": {"oneOf": [{"type": "string", "enum": ["x"]}, {"type": "boolean"}]},
                       "fixed": {"const": "v1"},
                       "choice": {"enum": [1, "two", None]},
                       "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}},
                                            {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]},
                       "anything": {}},
        "required": ["person", "legacy", "maybe", "either", "one", "fixed", "choice", "merged"],
        "additionalProperties": False,
        "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}, "email": {
            "type": "string", "format": "email"}}, "required": ["name", "email"], "additionalProperties": False}},
        "definitions": {"flag": {"type": "boolean"}},
    },
    "recursive": {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/node"}},
        "$defs": {"node": {"type": "object", "properties": {
            "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
    },
    "unique_strings": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3, "uniqueItems": True},
}


def messages(text: str, system: str = "You are helpful.") -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": f"<item>\n{text}\n</item>"}]


def json_schema(name: str) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name], "strict": True}}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_content_is_a_valid_instance(name):
    validator = jsonschema.Draft202012Validator(SCHEMAS[name], format_checker=jsonschema.FormatChecker())
    for i in range(40):  # many prompts, so that the random branches are all taken
        content = generate_content(messages(f"Item {i}: my parcel arrived late and damaged"), json_schema(name))
        errors = [e.message for e in validator.iter_errors(json.loads(content))]
        assert errors == [], content


def test_content_is_deterministic_per_messages_and_format():
    first = generate_content(messages("The invoice is wrong"), json_schema("label"))
    assert generate_content(messages("The invoice is wrong"), json_schema("label")) == first
    others = {generate_content(messages(f"The invoice is wrong {i}"), json_schema("label")) for i in range(10)}
    assert len(others) > 1


def test_enum_arrays_hold_distinct_values():
    schema = {"type": "array", "items": {"enum": LABELS}, "minItems": 2, "maxItems": 3, "uniqueItems": True}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    for i in range(30):
        labels = json.loads(generate_content(messages(f"text {i}"), fmt))
        assert 2 <= len(labels) <= 3 and len(set(labels)) == len(labels)


def test_strings_are_made_of_the_user_message_words():
    schema = {"type": "object", "properties": {"note": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    note = json.loads(generate_content(messages("alpha beta gamma delta epsilon"), fmt))["note"]
    assert note and set(note.split()) <= {"alpha", "beta", "gamma", "delta", "epsilon"}


def test_text_mode_is_a_short_summary_of_the_last_user_message():
    text = generate_content(messages("Shipping took three weeks and nobody answered my emails"), None)
    assert text == "Summary: Shipping took three weeks and nobody answered my emails."
    assert generate_content(messages("Shipping took"), {"type": "text"}) == "Summary: Shipping took."


def test_json_object_mode_uses_the_requested_keys():
    system = "You extract.\nReturn a JSON object with keys: person_name, title, company\nAnswer with JSON."
    value = json.loads(generate_content(messages("Jane Doe, CEO of Acme", system), {"type": "json_object"}))
    assert list(value) == ["person_name", "title", "company"]
    assert all(isinstance(v, str) and v for v in value.values())


def test_json_object_mode_without_keys_gives_a_result():
    value = json.loads(generate_content(messages("Jane Doe, CEO of Acme"), {"type": "json_object"}))
    assert list(value) == ["result"]


def test_content_parts_and_missing_user_message_are_handled():
    parts = [{"role": "user", "content": [{"type": "text", "text": "parts work too"}]}]
    assert generate_content(parts, None) == "Summary: parts work too."
    assert generate_content([{"role": "system", "content": None}], None).startswith("Summary: lorem")


@pytest.mark.parametrize("text", ['{"label": "billing", "confidence": 0.5}', "[1, 2, 3]", '"a string"', "12345", "1"])
def test_truncate_json_breaks_parsing(text):
    json.loads(text)
    with pytest.raises(ValueError):
        json.loads(truncate_json(text))


def test_token_logprobs_cover_the_content():
    content = '{"label": "billing", "confidence": 0.93}'
    entries = token_logprobs(content, random.Random(1))
    assert "".join(e["token"] for e in entries) == content
    assert all(-2 < e["logprob"] <= 0 for e in entries)
    assert all(bytes(e["bytes"]).decode() == e["token"] and e["top_logprobs"] == [] for e in entries)
    assert token_logprobs(content, random.Random(1)) == entries
