"""Safe `{field}` rendering of prompt templates.

Only plain names are allowed. `str.format` would also allow attribute and index
access (`{x.__globals__[...]}` leaks module globals) and format specs
(`{content:>50000000}` turns 17 characters into 50 million), so templates are
parsed once and rendered by concatenation.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Mapping

from engine.errors import InvalidRequest

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and field names, alternating."""

    source: str
    parts: tuple[tuple[str, str | None], ...]  # (literal, field or None)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(name for _, name in self.parts if name is not None)

    def render(self, values: Mapping[str, object], field: str = "user_prompt_template") -> str:
        out: list[str] = []
        for literal, name in self.parts:
            out.append(literal)
            if name is None:
                continue
            if name not in values:
                known = ", ".join(sorted(values)) or "none"
                raise InvalidRequest(
                    f"template field {{{name}}} is not in the item (fields available: {known})",
                    field=field,
                )
            out.append(_as_text(values[name]))
        return "".join(out)


def parse_template(source: str, field: str = "user_prompt_template") -> Template:
    """Parse `source`, refusing anything but plain `{name}` fields (`{{` and `}}` escape)."""
    try:
        parsed = list(_FORMATTER.parse(source))
    except ValueError as exc:
        raise InvalidRequest(f"malformed template: {exc}", field=field) from None
    parts = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            _check_field(name, spec, conversion, field)
        parts.append((literal, name))
    return Template(source, tuple(parts))


def _check_field(name: str, spec: str | None, conversion: str | None, field: str) -> None:
    if not name.isidentifier():
        raise InvalidRequest(
            f"template field {{{name}}} is not allowed: use plain names such as {{content}}"
            " (no attribute access, indexing or positional fields)",
            field=field,
        )
    if spec or conversion:
        raise InvalidRequest(
            f"template field {{{name}}} may not have a format spec or conversion", field=field
        )


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)
