"""An answer's confidence from the model's token log-probabilities (a label's, an enrich answer's).

Where the provider returns logprobs, the confidence of a label is the model's
probability of the label's own tokens: exp(sum of their logprobs), the tokens
found by their character span in the answer (the tokens concatenate to the
answer text, as in OpenAI's chat completions). Otherwise the model's
self-reported value stays, and `confidence_source` says which it is. An
enrich answer's confidence is that of its least certain field (the tokens of
the field's JSON value); it has none without logprobs.
"""

from __future__ import annotations

import json
import math
import re


def _value_span(raw: str, label: str, start: int = 0) -> tuple[int, int] | None:
    """Character span of the JSON string `label` as it is written in `raw`, after `start`."""
    encoded = json.dumps(label, ensure_ascii=False)[1:-1]
    match = re.compile(r'"' + re.escape(encoded) + r'"').search(raw, start)
    return (match.start() + 1, match.end() - 1) if match else None


def span_probability(tokens: list[dict], span: tuple[int, int]) -> float | None:
    """exp(sum of logprobs) of the tokens overlapping the character span."""
    position, total, seen = 0, 0.0, False
    for token in tokens:
        text = token.get("token", "")
        end = position + len(text)
        if end > span[0] and position < span[1]:
            total += float(token.get("logprob", 0.0))
            seen = True
        position = end
    return min(1.0, max(0.0, math.exp(total))) if seen else None


def apply_label_confidence(result: dict, raw: str, tokens: list | None) -> dict:
    """Set `confidence` from logprobs when they cover the label(s); record the source."""
    labels = result.get("labels") if "labels" in result else [result.get("label")]
    probabilities = []
    if tokens:
        key = raw.find('"labels"' if "labels" in result else '"label"')
        for label in labels:
            span = _value_span(raw, label, max(key, 0)) if isinstance(label, str) else None
            probability = span_probability(tokens, span) if span else None
            if probability is None:
                probabilities = []
                break
            probabilities.append(probability)
    if probabilities:
        result["confidence"] = round(sum(probabilities) / len(probabilities), 4)
        result["confidence_source"] = "logprobs"
    else:
        result["confidence_source"] = "self_reported"
    return result


def _field_value_span(raw: str, name: str) -> tuple[int, int] | None:
    """Character span of the JSON value of the top-level key `name` in `raw` (quotes of a string included)."""
    match = re.compile(r'"' + re.escape(json.dumps(name)[1:-1]) + r'"\s*:\s*').search(raw)
    if match is None:
        return None
    try:
        _, end = _DECODER.raw_decode(raw, match.end())
    except ValueError:
        return None
    return match.end(), end


_DECODER = json.JSONDecoder()


def fields_confidence(result: dict, raw: str, tokens: list | None) -> float | None:
    """An enrich answer's confidence: the probability of its least certain field's value tokens.

    None without logprobs, or when a field's value is not found in the answer text.
    """
    if not tokens or not result:
        return None
    probabilities = []
    for name in result:
        span = _field_value_span(raw, name)
        probability = span_probability(tokens, span) if span and span[1] > span[0] else None
        if probability is None:
            return None
        probabilities.append(probability)
    return round(min(probabilities), 4)


def answer_confidence(operation: str, result, raw: str, tokens: list | None) -> float | None:
    """The confidence an answer had: a label's (logprobs or self-reported), an enrich answer's fields'."""
    if operation == "label" and isinstance(result, dict):
        confidence = result.get("confidence")
        return float(confidence) if isinstance(confidence, (int, float)) else None
    if operation == "enrich" and isinstance(result, dict):
        return fields_confidence(result, raw, tokens)
    return None
