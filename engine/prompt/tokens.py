"""Token estimates used before a call (to reserve rate-limit capacity).

Four characters a token is the rule of thumb OpenAI documents for English; the
estimate is settled against the response's real `usage` afterwards, so it only
needs to be close. The simulator counts with the same functions, which keeps
its `usage` consistent with what the engine reserves.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4  # role and separators, as in OpenAI's chat format


def estimate_text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def estimate_prompt_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    total = 2  # the assistant reply's priming
    for message in messages:
        total += TOKENS_PER_MESSAGE + estimate_text_tokens(str(message.get("content") or ""))
    return total
