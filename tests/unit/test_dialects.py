"""Each structured-output dialect's request body (engine/provider/dialects.py)."""

import pytest

from engine.config import DIALECTS
from engine.models import ExtractParams, LabelParams
from engine.prompt.exchange import build_messages, request_body
from engine.prompt.operations import prepare
from engine.provider.dialects import (
    DISCOVERY_ORDER,
    SCHEMA_IN_PROMPT,
    in_dialect,
    next_dialect,
    refusal_names_dialect,
    wants_schema,
)

LABEL = prepare("label", LabelParams(categories=["positive", "negative"]))
SCHEMA = LABEL.response_format["json_schema"]["schema"]


def planned(plan=LABEL) -> dict:
    return request_body(plan, "m", build_messages(plan, {"content": "great"}))


def test_openai_json_schema_is_sent_as_planned_and_strict():
    body = in_dialect(planned(), "json_schema")
    assert body == planned()
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "classification", "schema": SCHEMA, "strict": True}}


def test_llama_cpp_gets_json_object_with_the_schema():
    body = in_dialect(planned(), "llama_cpp")
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert body["messages"] == planned()["messages"]


def test_vllm_gets_structured_outputs_and_older_vllm_guided_json():
    body = in_dialect(planned(), "vllm")
    assert body["structured_outputs"] == {"json": SCHEMA} and "response_format" not in body
    body = in_dialect(planned(), "vllm_guided")
    assert body["guided_json"] == SCHEMA and "response_format" not in body


def test_ollama_gets_its_format_field_and_json_schema_without_strict():
    # Ollama's OpenAI layer (openai/openai.go) reads response_format.json_schema.schema into `format`.
    body = in_dialect(planned(), "ollama")
    assert body["format"] == SCHEMA
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "classification", "schema": SCHEMA}}


def test_json_object_and_prompt_only_write_the_schema_into_the_system_prompt():
    for dialect, response_format in (("json_object", {"type": "json_object"}), ("prompt", None)):
        body = in_dialect(planned(), dialect)
        assert body.get("response_format") == response_format
        system = body["messages"][0]
        assert system["role"] == "system" and SCHEMA_IN_PROMPT in system["content"]
        assert system["content"].startswith(LABEL.system_prompt)  # appended, not replaced
        assert '"enum":["positive","negative"]' in system["content"]
        assert body["messages"][1:] == planned()["messages"][1:]


def test_prompt_only_adds_a_system_message_when_there_is_none():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}}
    out = in_dialect(body, "prompt")
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    assert body["messages"] == [{"role": "user", "content": "x"}]  # the planned body is not changed


def test_plain_json_mode_is_json_object_everywhere_but_prompt_only():
    body = {"model": "m", "messages": [], "response_format": {"type": "json_object"}}
    for dialect in DIALECTS:
        expected = None if dialect == "prompt" else {"type": "json_object"}
        assert in_dialect(body, dialect).get("response_format") == expected
    assert not wants_schema(body)


def test_a_body_without_structured_output_is_left_alone_and_every_dialect_is_known():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    for dialect in DIALECTS:
        assert in_dialect(body, dialect) == body
        in_dialect(planned(), dialect)  # no ValueError: every configurable name has a body
    with pytest.raises(ValueError, match="unknown"):
        in_dialect(planned(), "tgi")


def test_extract_keys_are_asked_as_a_schema():
    plan = prepare("extract", ExtractParams(extraction_instructions="Extract: name, email"))
    body = in_dialect(planned(plan), "llama_cpp")
    assert body["response_format"]["schema"]["required"] == ["name", "email"]
    assert wants_schema(planned(plan))


def test_discovery_order_and_refusals():
    assert DISCOVERY_ORDER[0] == "json_schema" and DISCOVERY_ORDER[-1] == "prompt"
    assert next_dialect("json_schema") == "llama_cpp"
    assert next_dialect("prompt") is None and next_dialect("vllm") is None
    refusal = "1 validation error: {'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text'\"}"
    assert refusal_names_dialect(refusal, "json_schema")
    assert refusal_names_dialect("Unrecognized request argument supplied: guided_json", "vllm_guided")
    assert not refusal_names_dialect("guided_json is not supported", "json_schema")
    assert not refusal_names_dialect("model not found", "llama_cpp")
