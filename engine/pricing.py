"""Estimated cost from token usage, by a price table per model (USD per 1M tokens).

Defaults are the list prices of common OpenAI models; AGENTFLOW_PRICES adds
or overrides entries: `{"openai/gpt-4.1-mini": {"input": 0.4, "output": 1.6}}`.
A dated model name (gpt-4.1-mini-2025-04-14) takes the price of its longest
listed prefix; a simulated model (sim/...) is priced as the model it stands in
for, so estimates can be tried before spending anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "o3": Price(2.00, 8.00),
    "o4-mini": Price(1.10, 4.40),
}


def parse_prices(table: dict) -> dict[str, Price]:
    return {name: Price(float(p["input"]), float(p["output"])) for name, p in table.items()}


class PriceTable:
    def __init__(self, overrides: dict[str, Price] | None = None):
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}

    def price_of(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        name = model.split("/", 1)[1] if "/" in model else model
        candidates = [k for k in self._prices if name == k or name.startswith(k + "-")]
        return self._prices[max(candidates, key=len)] if candidates else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for this usage, or None when the model has no known price."""
        price = self.price_of(model)
        if price is None:
            return None
        return round((prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000, 10)
