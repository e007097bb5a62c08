"""Validation of model output against the JSON Schema subset AgentFlow sends.

The schemas sent to providers use: object (properties, required,
additionalProperties), string (enum), number/integer (minimum, maximum),
boolean, array (items, minItems, maxItems), null, and `type` lists. Unknown
keywords are ignored, so a user's richer schema is checked as far as this
subset goes. Enums are always checked in code: a provider without strict
structured output may answer outside the label set.
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def validate(value: Any, schema: dict, path: str = "$") -> list[str]:
    """Return the reasons `value` breaks `schema` (empty when it is valid)."""
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
        return errors
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        matched = next((t for t in types if _is_type(value, t)), None)
        if matched is None:
            errors.append(f"{path}: expected {' or '.join(types)}, got {_type_name(value)}")
            return errors
    if isinstance(value, dict):
        errors += _validate_object(value, schema, path)
    elif isinstance(value, list):
        errors += _validate_array(value, schema, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        errors += _validate_number(value, schema, path)
    return errors


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(name)
    return expected is None or isinstance(value, expected)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _validate_object(value: dict, schema: dict, path: str) -> list[str]:
    errors = []
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{path}: missing required field {name!r}")
    for name, item in value.items():
        if name in properties:
            errors += validate(item, properties[name], f"{path}.{name}")
        elif schema.get("additionalProperties") is False:
            errors.append(f"{path}: unexpected field {name!r}")
    return errors


def _validate_array(value: list, schema: dict, path: str) -> list[str]:
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: expected at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: expected at most {schema['maxItems']} items")
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors


def _validate_number(value: float, schema: dict, path: str) -> list[str]:
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    return errors
