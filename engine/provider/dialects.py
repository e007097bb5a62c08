"""Structured output in each server's own dialect, pure: a planned body -> the body a server understands.

A plan asks for structured output the OpenAI way (`response_format` of type
`json_schema` or `json_object`); servers spell it differently:

    json_schema  OpenAI (and vLLM, Ollama >= 0.5, LM Studio): response_format json_schema, strict as planned
    llama_cpp    llama.cpp's server and llama-cpp-python: response_format {"type": "json_object", "schema": ...}
                 (llama-cpp-python 0.3 refuses json_schema with a 500)
    vllm         vLLM: "structured_outputs": {"json": schema} in the body
    vllm_guided  older vLLM: "guided_json": schema in the body
    ollama       Ollama's OpenAI endpoint: `format: <schema>` (its native field) and json_schema
                 without strict (which its OpenAI layer reads into `format`)
    json_object  plain JSON mode; the schema is written into the prompt
    prompt       no response_format at all; the schema is written into the prompt

Whatever the dialect, the answer is validated in code (engine/prompt/schema.py).
"""

from __future__ import annotations

import json
from typing import Any

JSON_SCHEMA = "json_schema"
LLAMA_CPP = "llama_cpp"
VLLM = "vllm"
VLLM_GUIDED = "vllm_guided"
OLLAMA = "ollama"
JSON_OBJECT = "json_object"
PROMPT = "prompt"
AUTO = "auto"

# Tried in turn when the dialect is found by the engine: each one a server may refuse out loud.
# vLLM's and Ollama's own spellings are not in it: both servers take json_schema too.
DISCOVERY_ORDER = (JSON_SCHEMA, LLAMA_CPP, JSON_OBJECT, PROMPT)

# The request fields a refusal of each dialect names (besides response_format).
_OWN_FIELDS = {LLAMA_CPP: ("schema",), VLLM: ("structured_outputs",), VLLM_GUIDED: ("guided_json",)}

SCHEMA_IN_PROMPT = "Answer with one JSON object that matches this JSON Schema:\n"


def wants_schema(body: dict) -> bool:
    """Whether the body asks for a schema, so that the dialect matters (and can be found)."""
    return (body.get("response_format") or {}).get("type") == JSON_SCHEMA


def next_dialect(dialect: str) -> str | None:
    """The dialect to try after `dialect` was refused, None at the end of the list."""
    if dialect not in DISCOVERY_ORDER:
        return None
    position = DISCOVERY_ORDER.index(dialect)
    return DISCOVERY_ORDER[position + 1] if position + 1 < len(DISCOVERY_ORDER) else None


def refusal_names_dialect(message: str, dialect: str) -> bool:
    """Whether a provider's refusal is about the structured-output part of the body."""
    fields = ("response_format", *_OWN_FIELDS.get(dialect, ()))
    return any(name in message for name in fields)


def in_dialect(body: dict, dialect: str) -> dict:
    """`body` (as planned, OpenAI's way) rewritten for a server speaking `dialect`; a new dict."""
    planned = body.get("response_format")
    if not planned or dialect in (JSON_SCHEMA, AUTO):
        return body
    out = {k: v for k, v in body.items() if k != "response_format"}
    schema = planned.get("json_schema", {}).get("schema") if planned.get("type") == JSON_SCHEMA else None
    if schema is None:  # plain JSON mode: every dialect but prompt-only says it the same way
        if dialect != PROMPT:
            out["response_format"] = {"type": JSON_OBJECT}
        return out
    if dialect == LLAMA_CPP:
        out["response_format"] = {"type": JSON_OBJECT, "schema": schema}
    elif dialect == VLLM:
        out["structured_outputs"] = {"json": schema}
    elif dialect == VLLM_GUIDED:
        out["guided_json"] = schema
    elif dialect == OLLAMA:
        name = planned["json_schema"].get("name", "answer")
        out["response_format"] = {"type": JSON_SCHEMA, "json_schema": {"name": name, "schema": schema}}
        out["format"] = schema  # Ollama's native field, for the versions whose OpenAI endpoint reads it
    elif dialect == JSON_OBJECT:
        out["response_format"] = {"type": JSON_OBJECT}
        out["messages"] = _schema_in_prompt(body["messages"], schema)
    elif dialect == PROMPT:
        out["messages"] = _schema_in_prompt(body["messages"], schema)
    else:
        raise ValueError(f"unknown structured-output dialect {dialect!r}")
    return out


def _schema_in_prompt(messages: list[dict], schema: dict) -> list[dict]:
    """The schema appended to the system message (a new one first when there is none)."""
    note = SCHEMA_IN_PROMPT + json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    if messages and messages[0].get("role") == "system":
        first: dict[str, Any] = {**messages[0], "content": f"{messages[0]['content']}\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]
