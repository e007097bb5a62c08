"""Answers made exact where they are plainly right, before validation (pure).

A model that does not enforce the schema (a small local one, a server in JSON
mode) often gets the substance right and the form slightly wrong. Asking
again costs a call and may come back worse, so these are fixed in code:

- a field the schema does not have, where it allows no others, is dropped;
- an enum value matching a label but for case and surrounding whitespace
  becomes that label (" Positive" -> "positive");
- a number written as a string ("500", " 0.9 ") where the field is a
  number or an integer (and not also a string) becomes the number.

Everything else is left for `schema.validate` to report, and asked again.
"""

from __future__ import annotations

import math
from typing import Any


def coerce(value: Any, schema: dict) -> Any:
    """`value` with the fixes above applied along `schema`; a new value, the input is not changed."""
    if isinstance(value, str):
        return _coerce_string(value, schema)
    if isinstance(value, dict):
        return _coerce_object(value, schema)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"]) for item in value]
    return value


def _coerce_object(value: dict, schema: dict) -> dict:
    properties = schema.get("properties") or {}
    closed = schema.get("additionalProperties") is False
    out = {}
    for name, item in value.items():
        if name in properties:
            out[name] = coerce(item, properties[name])
        elif not closed:
            out[name] = item
    return out


def _coerce_string(value: str, schema: dict) -> Any:
    if "enum" in schema:
        return _enum_label(value, schema["enum"])
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "string" in types or not {"number", "integer"} & set(types):
        return value
    number = _number(value.strip())
    if number is None or ("number" not in types and not float(number).is_integer()):
        return value
    return int(number) if "number" not in types else number


def _enum_label(value: str, labels: list) -> Any:
    if value in labels:
        return value
    wanted = value.strip().casefold()
    matches = [label for label in labels if isinstance(label, str) and label.strip().casefold() == wanted]
    return matches[0] if len(matches) == 1 else value


def _number(text: str) -> int | float | None:
    if "_" in text:  # Python reads "1_000"; a JSON reader would not
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
