"""Where an operation's calls go: a configured provider and its model name."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import ProviderConfig


@dataclass(frozen=True)
class Target:
    """Where an operation's calls go."""

    provider: ProviderConfig
    model: str  # the provider's own model name

    @property
    def display_model(self) -> str:
        """provider/model; sim/model when the built-in simulator stands in, as its answers say."""
        return f"{'sim' if self.provider.simulated else self.provider.name}/{self.model}"
