"""Deterministic content for the simulated provider (pure, no I/O).

The same (messages, response_format) always yields the same content, so a test
can predict it; the simulator draws its faults elsewhere, so a retry of a
failed call can succeed. JSON-schema answers are valid instances of the
schema's common subset (what strict structured output allows, plus a little).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from typing import Any

FALLBACK_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
MAX_DEPTH = 8  # beyond this, recursive schemas take their shortest branch (null, empty array)
NULL_SHARE = 0.2  # how often a nullable value is null, like a model that sometimes has no answer
_WORD = re.compile(r"\w+(?:['-]\w+)*")
_TAG = re.compile(r"</?[A-Za-z_][\w-]*>")  # fences such as <item>: not words of the text
_KEYS_LINE = re.compile(r"^\s*Return a JSON object with keys:\s*(.+?)\s*$", re.MULTILINE)
_FORMATS = {
    "date-time": lambda rng: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z",
    "date": lambda rng: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    "time": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
    "email": lambda rng: f"user{rng.randint(1, 999)}@example.com",
    "uri": lambda rng: f"https://example.com/item/{rng.randint(1, 999)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}


def generate_content(messages: list[dict], response_format: dict | None) -> str:
    """The assistant's answer: JSON for json_schema/json_object formats, else plain text."""
    seed = json.dumps([messages, response_format], sort_keys=True, separators=(",", ":"), default=str)
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    words = _words(messages)
    kind = (response_format or {}).get("type", "text")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        return json.dumps(_Generator(schema, words, rng).instance(schema), ensure_ascii=False)
    if kind == "json_object":
        keys = _requested_keys(messages)
        obj = {key: _phrase(words, rng) for key in keys} if keys else {"result": _phrase(words, rng)}
        return json.dumps(obj, ensure_ascii=False)
    return "Summary: " + " ".join(words[:12]) + "."


def truncate_json(text: str) -> str:
    """Cut JSON text short so that it no longer parses (a reply cut off mid-way)."""
    text = text.rstrip()
    for cut in range(len(text) * 2 // 3, 0, -1):
        try:
            json.loads(text[:cut])
        except ValueError:
            return text[:cut]
    return "[" + text  # a scalar whose every prefix parses: an unclosed array never does


def token_logprobs(content: str, rng: random.Random) -> list[dict]:
    """OpenAI-style `logprobs.content` entries: ~4-character tokens, logprob in (-2, 0]."""
    entries = []
    for start in range(0, len(content), 4):
        token = content[start:start + 4]
        entries.append({
            "token": token,
            "logprob": -2.0 * rng.random(),
            "bytes": list(token.encode("utf-8")),
            "top_logprobs": [],
        })
    return entries


def _text(content: Any) -> str:
    """A message's text; content may be a string, a list of parts, or None."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _words(messages: list[dict]) -> list[str]:
    users = [m for m in messages if m.get("role") == "user"] or messages
    words = _WORD.findall(_TAG.sub(" ", _text(users[-1].get("content")))) if users else []
    return words or list(FALLBACK_WORDS)


def _requested_keys(messages: list[dict]) -> list[str]:
    keys: list[str] = []
    for message in messages:
        for match in _KEYS_LINE.finditer(_text(message.get("content"))):
            keys = [k.strip() for k in match.group(1).split(",") if k.strip()]
    return keys


def _phrase(words: list[str], rng: random.Random, low: int = 2, high: int = 6) -> str:
    count = min(len(words), rng.randint(low, high))
    start = rng.randrange(len(words) - count + 1)
    return " ".join(words[start:start + count])


class _Generator:
    """Builds one instance of a schema; `root` resolves `$ref`s."""

    def __init__(self, root: dict, words: list[str], rng: random.Random):
        self.root, self.words, self.rng = root, words, rng

    def instance(self, schema: Any, depth: int = 0) -> Any:
        if not isinstance(schema, dict):
            return self._string({})  # `true` or junk: anything goes
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self.instance(self._pick_branch(branches, depth), depth + 1)
        if schema.get("allOf"):
            return self.instance(self._merge(schema), depth + 1)
        return self._typed(schema, self._pick_type(schema, depth), depth)

    def _typed(self, schema: dict, kind: str, depth: int) -> Any:
        if kind == "object":
            props = schema.get("properties") or {}
            return {name: self.instance(sub, depth + 1) for name, sub in props.items()}
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("number", "integer"):
            return self._number(schema, kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolve(self, schema: dict) -> dict:
        seen = 0
        while "$ref" in schema and seen < 32:
            target: Any = self.root
            for part in str(schema["$ref"]).lstrip("#").strip("/").split("/"):
                if part:
                    target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema, seen = (target if isinstance(target, dict) else {}), seen + 1
        return schema

    def _pick_type(self, schema: dict, depth: int) -> str:
        types = schema.get("type")
        if types is None:  # infer from the keywords present
            return "object" if "properties" in schema else "array" if "items" in schema else "string"
        if isinstance(types, str):
            return types
        others = [t for t in types if t != "null"]
        if "null" in types and (not others or depth >= MAX_DEPTH or self.rng.random() < NULL_SHARE):
            return "null"
        return self.rng.choice(others) if others else "string"

    def _pick_branch(self, branches: list, depth: int) -> Any:
        if depth >= MAX_DEPTH:  # prefer a branch that cannot recurse
            for branch in branches:
                if isinstance(branch, dict) and branch.get("type") == "null":
                    return branch
        return self.rng.choice(branches)

    def _merge(self, schema: dict) -> dict:
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self._resolve(part) if isinstance(part, dict) else {}
            props = {**merged.get("properties", {}), **part.get("properties", {})}
            merged = {**merged, **part}
            if props:
                merged["properties"] = props
        return merged

    def _array(self, schema: dict, depth: int) -> list:
        items = self._resolve(schema.get("items") or {}) if isinstance(schema.get("items"), dict) else {}
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", low + 3))
        if depth >= MAX_DEPTH:
            high = low
        count = self.rng.randint(min(max(low, 1), high), high) if high >= low else low
        if items.get("enum"):  # labels: distinct picks, like a model listing categories
            return self.rng.sample(list(items["enum"]), min(count, len(items["enum"])))
        values = [self.instance(items, depth + 1) for _ in range(count)]
        if schema.get("uniqueItems"):
            values = self._distinct(values, items, count, depth)
        return values

    def _distinct(self, values: list, items: dict, count: int, depth: int) -> list:
        seen, unique = set(), []
        for value in values + [self.instance(items, depth + 1) for _ in range(4 * count)]:
            key = json.dumps(value, sort_keys=True)
            if key not in seen and len(unique) < count:
                seen.add(key)
                unique.append(value)
        return unique

    def _number(self, schema: dict, integer: bool) -> float | int:
        low, high = _range(schema, integer)
        if integer:
            return self.rng.randint(low, max(low, high))
        value = round(self.rng.uniform(low, high), 2)
        exclusive = (_bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum"))
        if not low <= value <= high or value in exclusive:
            value = (low + high) / 2  # rounding left the range: the midpoint never does
        return value

    def _string(self, schema: dict) -> str:
        fmt = _FORMATS.get(schema.get("format", ""))
        text = fmt(self.rng) if fmt else _phrase(self.words, self.rng)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += " " + self.rng.choice(self.words)
        if high is not None:
            text = text[:int(high)]
            if len(text.rstrip()) >= low:
                text = text.rstrip()
        return text


def _bound(schema: dict, key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _range(schema: dict, integer: bool) -> tuple:
    """[low, high] with exclusive bounds folded in (for integers), 100 wide when open-ended."""
    lows, highs = [], []
    if (value := _bound(schema, "minimum")) is not None:
        lows.append(math.ceil(value) if integer else value)
    if (value := _bound(schema, "exclusiveMinimum")) is not None:
        lows.append(math.floor(value) + 1 if integer else value)
    if (value := _bound(schema, "maximum")) is not None:
        highs.append(math.floor(value) if integer else value)
    if (value := _bound(schema, "exclusiveMaximum")) is not None:
        highs.append(math.ceil(value) - 1 if integer else value)
    low, high = max(lows, default=None), min(highs, default=None)
    if low is None and high is None:
        return 0, 100
    if low is None:
        return high - 100, high
    if high is None:
        return low, low + 100
    return low, high
