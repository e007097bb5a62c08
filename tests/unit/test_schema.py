from engine.prompt.schema import validate

LABEL = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["a", "b"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "n": {"type": "integer"},
        "maybe": {"type": ["string", "null"]},
    },
    "required": ["label", "confidence"],
    "additionalProperties": False,
}


def test_valid_instance_has_no_errors():
    assert validate({"label": "a", "confidence": 0.5, "tags": ["x"], "n": 3, "maybe": None}, LABEL) == []


def test_each_violation_is_reported_with_its_path():
    errors = validate({"label": "c", "confidence": 1.5, "tags": ["x", "y", "z"], "n": 1.5, "extra": 1}, LABEL)
    text = "\n".join(errors)
    assert "$.label: 'c' is not one of" in text
    assert "$.confidence: 1.5 is above the maximum 1" in text
    assert "$.tags: expected at most 2 items" in text
    assert "$.n: expected integer" in text
    assert "unexpected field 'extra'" in text


def test_missing_required_and_wrong_types():
    assert validate({}, LABEL) == ["$: missing required field 'label'", "$: missing required field 'confidence'"]
    assert validate([], LABEL) == ["$: expected object, got array"]
    assert validate({"label": "a", "confidence": True}, LABEL) == ["$.confidence: expected number, got boolean"]
