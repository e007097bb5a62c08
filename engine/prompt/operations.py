"""Per operation, pure: parameters -> the plan of prompts and schema.

`prepare(operation, params)` runs once per request or batch and yields an
`OperationPlan` (picklable, sent to the callers); label, summarize, run and
chat are built here, extract and enrich in `engine/prompt/fields.py`. Per item,
`engine/prompt/exchange.py` renders the prompt and checks the answer.

Prompt injection (OWASP LLM01): one item per request, the item fenced by
<item> tags and named as data in every built-in system prompt, enums checked
in code, no tools given to the model.
"""

from __future__ import annotations

import json
from typing import Any

from engine.models import (
    ChatParams,
    LabelParams,
    OperationParams,
    RunParams,
    SummarizeParams,
)
from engine.prompt.fields import enrich_plan, extract_plan
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
from engine.prompt.templates import parse_template
from engine.prompt.tokens import estimate_text_tokens


def prepare(operation: str, params: OperationParams) -> OperationPlan:
    builder = _BUILDERS[operation]
    return builder(params)


def _label(params: LabelParams) -> OperationPlan:
    names = params.category_names
    label = {"type": "string", "enum": names}
    confidence = {"type": "number", "minimum": 0, "maximum": 1}
    if params.multi_label:
        properties = {"labels": {"type": "array", "items": label}, "confidence": confidence}
        task = "Assign every category from the list that applies (possibly none)."
        shape = '{"labels": [<categories>], "confidence": <0..1>}'
    else:
        properties = {"label": label, "confidence": confidence}
        task = "Assign exactly one category from the list."
        shape = '{"label": <category>, "confidence": <0..1>}'
    if params.include_rationale:
        properties["rationale"] = {"type": "string"}
        shape = shape[:-1] + ', "rationale": <one short sentence>}'
    schema = object_schema(properties)
    # A self-reported confidence left out is unknown (null), not a reason to ask again.
    checked = {**schema, "required": [name for name in properties if name != "confidence"],
               "properties": {**properties, "confidence": {**confidence, "type": ["number", "null"]}}}
    system = params.system_prompt or "\n".join(
        [
            "You are a precise text classifier.",
            task,
            "Categories:",
            *(_describe_category(c) for c in params.categories),
            f"{DATA_RULE} Answer only with JSON: {shape}, where confidence is your probability "
            "that the answer is right.",
        ]
    )
    # Tokens of a typical answer: reserved before the call, and the dry run's output estimate.
    longest = max(names, key=len)
    typical = {"labels": [longest, longest]} if params.multi_label else {"label": longest}
    estimate = estimate_text_tokens(json.dumps({**typical, "confidence": 0.95}))
    return OperationPlan(
        operation="label",
        system_prompt=system,
        template=template_of(params, FENCED_CONTENT),
        response_format=json_schema_format("classification", schema),
        schema=checked,
        expect_json=True,
        completion_estimate=estimate + (40 if params.include_rationale else 0),
        extra={"multi_label": params.multi_label},
        **common_settings(params),
    )


def _describe_category(category: Any) -> str:
    if isinstance(category, str):
        return f"- {category}"
    line = f"- {category.name}"
    if category.description:
        line += f": {category.description}"
    if category.examples:
        line += " (examples: " + "; ".join(category.examples) + ")"
    return line


def _summarize(params: SummarizeParams) -> OperationPlan:
    instructions = params.summary_instructions or "Summarize the text concisely."
    response_format = params.response_format.model_dump(by_alias=True, exclude_none=True) if params.response_format else None
    expect_json = bool(response_format and response_format["type"] != "text")
    system = params.system_prompt or (
        f"You write accurate, concise summaries. {instructions}\n{DATA_RULE}"
        + (" Answer with a JSON object." if expect_json else "")
    )
    return OperationPlan(
        operation="summarize",
        system_prompt=system,
        template=template_of(params, FENCED_CONTENT),
        response_format=response_format if expect_json else None,
        schema=schema_of(response_format),
        expect_json=expect_json,
        completion_estimate=params.max_tokens or 200,
        **common_settings(params),
    )


def _run(params: RunParams) -> OperationPlan:
    response_format = params.response_format.model_dump(by_alias=True, exclude_none=True) if params.response_format else None
    expect_json = bool(response_format and response_format["type"] != "text")
    return OperationPlan(
        operation="run",
        system_prompt=params.system_prompt or "",
        template=template_of(params, "{content}"),
        response_format=response_format if expect_json else None,
        schema=schema_of(response_format),
        expect_json=expect_json,
        completion_estimate=params.max_tokens or 200,
        **common_settings(params),
    )


def _chat(params: ChatParams) -> OperationPlan:
    # A pass-through: each item's content is the body to send, its result the provider's completion.
    return OperationPlan(
        operation="chat",
        system_prompt="",
        template=parse_template("{content}"),
        response_format=None,
        schema=None,
        expect_json=False,
        completion_estimate=params.max_tokens or 200,
    )


_BUILDERS = {"label": _label, "summarize": _summarize, "extract": extract_plan, "enrich": enrich_plan, "run": _run,
             "chat": _chat}
