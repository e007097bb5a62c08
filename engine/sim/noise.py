"""A model that is sometimes wrong, and knows it (pure): the simulator's stand-in for a cheap model.

For a model configured with a noise rate, a seeded share of the answers
(drawn from the seed, the model and the messages, so the same request is
always right or always wrong) puts another value in every enum field (a label,
a categorical field), with a low confidence; the others keep the plain answer,
with a high one. The confidence shows in a `confidence` field of the answer,
if its schema has one, and in the logprobs: every JSON string value is one
token whose logprob is log(confidence), the rest of the answer is certain.
Nothing in the request says which items are wrong: the draw is the simulator's own.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re

WRONG_CONFIDENCE = (0.2, 0.85)  # a wrong answer's confidence is drawn uniformly in here
RIGHT_CONFIDENCE = (0.8, 1.0)  # a right one's
_PIECES = re.compile(r'"(?:[^"\\]|\\.)*"|[^"]+')  # JSON string literals, and what lies between them


def parse_noise(text: str | None) -> dict[str, float]:
    """`name=rate[,name=rate...]` -> {model name: rate}; ValueError if malformed."""
    table = {}
    for entry in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, rate = entry.partition("=")
        try:
            value = float(rate)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not 0 <= value <= 1:
            raise ValueError(f"model_noise entry {entry!r} must be name=rate, rate between 0 and 1")
        table[name.strip()] = value
    return table


def noisy_answer(content: str, schema: dict | None, messages: list, model: str, rate: float,
                 seed: int | None) -> tuple[str, float, bool]:
    """(the answer, its confidence, whether it was made wrong) for a model with this noise rate."""
    key = json.dumps([seed, model, messages], sort_keys=True, default=str)
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
    wrong = rng.random() < rate
    confidence = round(rng.uniform(*(WRONG_CONFIDENCE if wrong else RIGHT_CONFIDENCE)), 4)
    try:
        value = json.loads(content)
    except ValueError:
        return content, confidence, False
    properties = (schema or {}).get("properties") or {}
    if not isinstance(value, dict) or not properties:
        return content, confidence, False
    changed = False
    if wrong:
        for name, prop in properties.items():
            if name in value:
                value[name], flipped = _other_value(value[name], prop, rng)
                changed = changed or flipped
    if "confidence" in properties and "confidence" in value:
        value["confidence"] = confidence
    return json.dumps(value, ensure_ascii=False), confidence, changed


def _other_value(current, prop: dict, rng: random.Random):
    """Another value of an enum (or the first element of an array of one), and whether it changed."""
    choices = prop.get("enum") or []
    if isinstance(current, list):
        items = prop.get("items") or {}
        others = [v for v in items.get("enum") or [] if v not in current]
        if not others:
            return current, False
        return [rng.choice(others), *current[1:]], True
    others = [v for v in choices if v != current]
    return (rng.choice(others), True) if others else (current, False)


def confident_logprobs(content: str, confidence: float) -> list[dict]:
    """OpenAI-style `logprobs.content`: each JSON string value one token at log(confidence), the rest at 0."""
    entries = []
    logprob = math.log(max(confidence, 1e-6))
    for match in _PIECES.finditer(content):
        token = match.group()
        is_value = token.startswith('"') and not content[match.end():].lstrip().startswith(":")
        entries.append({"token": token, "logprob": logprob if is_value else 0.0,
                        "bytes": list(token.encode("utf-8")), "top_logprobs": []})
    return entries
