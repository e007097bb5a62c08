"""The operations that return named fields, pure: extract (keys from the instructions or a schema)
and enrich (typed fields), each from its parameters to an `OperationPlan`."""

from __future__ import annotations

import json
import re

from engine.models import EnrichParams, ExtractParams
from engine.prompt.plan import (
    DATA_RULE,
    FENCED_CONTENT,
    OperationPlan,
    common_settings,
    json_schema_format,
    object_schema,
    schema_of,
    template_of,
)

_AFTER_COLON = re.compile(r"\bextract\s*:\s*([^\n;]+)", re.IGNORECASE)  # 'Extract: name, email'
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_KEY_LIST = re.compile(r"\bextract\s+((?:[A-Za-z_]\w*\s*,\s*)+[A-Za-z_]\w*)", re.IGNORECASE)  # 'Extract a, b'
_NAME = re.compile(r"[A-Za-z_]\w*(?: [A-Za-z_]\w*){0,2}")  # up to three words: 'full name' is full_name


def extraction_keys(instructions: str) -> tuple[str, ...]:
    """Field names from instructions like 'Extract: person_name, title, company' or 'Extract: email'.

    After a colon, a list of one or more names (of up to three words each,
    joined by '_'); without one, only a comma list of identifiers. A list with
    anything else in it is prose, not keys: it names none, rather than some.
    """
    match = _AFTER_COLON.search(instructions) or _KEY_LIST.search(instructions)
    listed = _SENTENCE_END.split(match.group(1), 1)[0] if match else ""
    names = [name.strip() for name in re.split(r",|\band\b", listed)] if listed else []
    if not names or not all(_NAME.fullmatch(name) for name in names):
        return ()
    return tuple(dict.fromkeys(name.replace(" ", "_") for name in names))


# A listed key's value: anything but a nested object (a nested shape needs a response_format json_schema).
EXTRACTED_VALUE = {"type": ["string", "number", "boolean", "array", "null"]}


def extract_plan(params: ExtractParams) -> OperationPlan:
    keys = extraction_keys(params.extraction_instructions)
    if params.response_format and params.response_format.type == "json_schema":
        response_format = params.response_format.model_dump(by_alias=True, exclude_none=True)
    elif keys:  # the keys asked for: a server that enforces schemas then gives every one
        schema = object_schema({key: EXTRACTED_VALUE for key in keys}, closed=False)
        response_format = json_schema_format("extraction", schema, strict=False)
    else:
        response_format = {"type": "json_object"}
    key_line = f"\nReturn a JSON object with keys: {', '.join(keys)}" if keys else ""
    system = params.system_prompt or (
        "You extract structured data from text. "
        f"{params.extraction_instructions}\nUse null for a field the text does not give."
        f"{key_line}\n{DATA_RULE} Answer only with a JSON object."
    )
    return OperationPlan(
        operation="extract",
        system_prompt=system,
        template=template_of(params, FENCED_CONTENT),
        response_format=response_format,
        schema=schema_of(response_format),
        expect_json=True,
        required_keys=keys,
        completion_estimate=params.max_tokens or 24 + 16 * max(1, len(keys)),
        **common_settings(params),
    )


_ENRICH_TYPES = {"numeric": "number", "integer": "integer", "boolean": "boolean", "text": "string"}


def enrich_plan(params: EnrichParams) -> OperationPlan:
    runtime = params.runtime_categories or {}
    properties, lines = {}, []
    for f in params.fields:
        if f.type == "categorical":
            prop = {"type": "string", "enum": runtime.get(f.name) or f.valid_values}
        elif f.type == "list":
            prop = {"type": "array", "items": {"type": "string"}}
        else:
            prop = {"type": _ENRICH_TYPES[f.type]}
        properties[f.name] = prop
        lines.append(_describe_field(f, prop))
    schema = object_schema(properties)
    system = params.system_prompt or "\n".join(
        ["You enrich records with computed fields. Fields to return:", *lines,
         f"{DATA_RULE} Answer only with a JSON object holding every field."]
    )
    return OperationPlan(
        operation="enrich",
        system_prompt=system,
        template=template_of(params, FENCED_CONTENT),
        response_format=json_schema_format("enrichment", schema),
        schema=schema,
        expect_json=True,
        include_context=params.include_context,
        completion_estimate=params.max_tokens or 16 + 12 * len(properties),
        **common_settings(params),
    )


def _describe_field(f, prop: dict) -> str:
    line = f"- {f.name} ({f.type})"
    if f.description:
        line += f": {f.description}"
    if "enum" in prop:
        line += f"; one of: {', '.join(prop['enum'])}"
    if f.examples:
        line += f"; examples: {json.dumps(f.examples, ensure_ascii=False)}"
    return line
