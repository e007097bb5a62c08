"""One item's exchange with the model, pure: the prompt, the request body, the answer checked, the re-ask.

`build_messages` renders the prompt for an item, `request_body` asks for
structured output OpenAI's way (engine/provider/dialects.py rewrites it per
server), `parse_result` turns the completion into a validated result or raises
`OutputParseError`, which the caller answers by asking again with the errors
attached (`repair_messages`).
"""

from __future__ import annotations

import json
from typing import Any

from engine.errors import OutputParseError
from engine.prompt import schema as json_schema
from engine.prompt.coerce import coerce
from engine.prompt.confidence import apply_label_confidence
from engine.prompt.plan import OperationPlan


def build_messages(plan: OperationPlan, item: dict) -> list[dict]:
    """Render the prompt for one item ({content, metadata?, id?})."""
    if plan.operation == "chat":
        return passthrough_body(item)["messages"]
    metadata = item.get("metadata") or {}
    values = {**metadata, "content": _unfence(item["content"])}
    user = plan.template.render(values)
    if plan.include_context and metadata:
        context = "\n".join(f"- {k}: {_unfence(_text(v))}" for k, v in metadata.items())
        user = f"Context:\n{context}\n\n{user}"
    messages = [{"role": "system", "content": plan.system_prompt}] if plan.system_prompt else []
    messages.append({"role": "user", "content": user})
    return messages


def _unfence(text: str) -> str:
    # An item may not close the fence and speak outside it.
    return text.replace("</item>", "<\\/item>")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def passthrough_body(item: dict) -> dict:
    """The chat-completions body a `chat` item carries (its content, as JSON text)."""
    return json.loads(item["content"])


def parse_result(plan: OperationPlan, raw: str, logprobs: list | None = None,
                 completion: dict | None = None) -> Any:
    """Validated result of one completion, or OutputParseError with the reasons.

    `completion` is the provider's whole answer: the result of a `chat` item, as it came.
    """
    if plan.operation == "chat":
        return completion
    if not plan.expect_json:
        text = raw.strip()
        if not text:
            raise OutputParseError("the model returned an empty answer", raw, ("empty answer",))
        return text
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise OutputParseError(f"the answer is not valid JSON: {exc}", raw, (str(exc),)) from None
    if not isinstance(value, dict):
        raise OutputParseError("the answer is not a JSON object", raw, ("expected a JSON object",))
    if plan.schema:
        value = coerce(value, plan.schema)
    errors = json_schema.validate(value, plan.schema) if plan.schema else []
    errors += [f"$: missing required field {k!r}" for k in plan.required_keys if k not in value]
    errors = list(dict.fromkeys(errors))  # a required key listed by the schema and the keys alike
    if errors:
        raise OutputParseError("the answer does not match the schema: " + "; ".join(errors[:5]), raw, tuple(errors))
    if plan.operation == "label":
        if plan.extra.get("multi_label"):
            value["labels"] = list(dict.fromkeys(value["labels"]))
        value.setdefault("confidence", None)
        apply_label_confidence(value, raw, logprobs)
    return value


def repair_messages(messages: list[dict], error: OutputParseError) -> list[dict]:
    """Ask again with the evidence: the bad answer and why it was refused."""
    reasons = "; ".join(error.errors[:5]) or error.message
    return [
        *messages,
        {"role": "assistant", "content": error.raw[:4_000]},
        {"role": "user", "content": f"That answer was invalid ({reasons}). Answer again with valid JSON only."},
    ]


def request_body(plan: OperationPlan, model: str, messages: list[dict], logprobs_supported: bool = False,
                 item: dict | None = None) -> dict:
    """The chat-completions body for one call, asking for structured output OpenAI's way.

    engine/provider/dialects.py rewrites it for servers that say it otherwise; a `chat`
    item's own body is sent untouched but for the model name.
    """
    if plan.operation == "chat":
        return {**passthrough_body(item), "model": model}
    body: dict[str, Any] = {"model": model, "messages": messages}
    if plan.operation in ("label", "enrich") and logprobs_supported:
        body["logprobs"] = True  # the answer's own probability beats a self-reported number
    if plan.response_format:
        body["response_format"] = plan.response_format
    if plan.temperature is not None:
        body["temperature"] = plan.temperature
    if plan.max_tokens is not None:
        body["max_tokens"] = plan.max_tokens
    return body
