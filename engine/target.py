"""Where an operation's calls go: a configured provider and its model name, and where else they may go."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import ProviderConfig


@dataclass(frozen=True)
class Target:
    """Where an operation's calls go; `fallbacks`: where they go, in order, while this provider is out."""

    provider: ProviderConfig
    model: str  # the provider's own model name
    fallbacks: tuple[Target, ...] = ()

    @property
    def display_model(self) -> str:
        """provider/model; sim/model when the built-in simulator stands in, as its answers say."""
        return f"{'sim' if self.provider.simulated else self.provider.name}/{self.model}"

    def next(self) -> Target:
        """The first fallback, with the rest of the list as its own."""
        first, *rest = self.fallbacks
        return Target(first.provider, first.model, tuple(rest))


def with_fallbacks(provider: ProviderConfig, model: str, providers: dict[str, ProviderConfig]) -> Target:
    """The target for `model` on `provider`, its configured fallbacks after it (the same model name there,
    unless the fallback names its own: provider/model). Fallbacks with no API key are left out."""
    fallbacks = tuple(Target(providers[name], fallback_model or model) for name, fallback_model in provider.fallbacks
                      if providers[name].api_key)
    return Target(provider, model, fallbacks)
