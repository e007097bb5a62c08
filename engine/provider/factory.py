"""Builds a working `Caller` inside one process (a caller actor, or a test).

HTTP clients are per process and per event loop; one is shared by every
provider call the process makes, so connections are reused.
"""

from __future__ import annotations

from typing import Callable

from engine.config import ProviderConfig, Settings
from engine.provider.caller import Caller, RetryPolicy
from engine.provider.client import ChatClient, ProviderSession
from engine.provider.breaker import BreakerPolicy
from engine.provider.discovery import DialectBook, Dialects
from engine.provider.fallback import BreakerBackend, Circuits, Fallbacks, LocalBreakerBackend
from engine.provider.leases import Lease, LimiterBackend
from engine.provider.slots import SlotBackend, SlotLease


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.max_retries,
        max_repairs=settings.max_repairs,
        timeout=settings.request_timeout,
    )


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(cooldown=settings.fallback_cooldown, probe_timeout=settings.request_timeout)


def build_caller(settings: Settings, backend_for: Callable[[ProviderConfig], LimiterBackend],
                 book_for: Callable[[ProviderConfig], DialectBook] | None = None,
                 breaker: BreakerBackend | None = None,
                 slots_backend_for: Callable[[ProviderConfig], SlotBackend] | None = None) -> Caller:
    """`book_for`: where a provider's structured-output dialect, once found, is shared; `breaker`: where the
    providers' circuits are kept; `slots_backend_for`: where a provider's concurrency limit is (None: this
    process, for each)."""
    http = ProviderSession(settings.caller_concurrency)
    clients: dict[str, ChatClient] = {}
    leases: dict[str, Lease] = {}

    def client_for(provider: ProviderConfig) -> ChatClient:
        key = f"{provider.base_url}|{provider.api_key}"
        if key not in clients:
            clients[key] = ChatClient(http, provider.base_url, provider.api_key)
        return clients[key]

    def lease_for(provider: ProviderConfig) -> Lease:
        if provider.name not in leases:
            leases[provider.name] = Lease(backend_for(provider))
        return leases[provider.name]

    slot_leases: dict[str, SlotLease] = {}

    def slots_for(provider: ProviderConfig) -> SlotLease:
        if provider.name not in slot_leases:
            slot_leases[provider.name] = SlotLease(slots_backend_for(provider))
        return slot_leases[provider.name]

    return Caller(client_for, lease_for, retry_policy(settings), settings.caller_concurrency,
                  dialects=Dialects(book_for),
                  fallbacks=Fallbacks(Circuits(breaker or LocalBreakerBackend(breaker_policy(settings)))),
                  slots_for=slots_for if slots_backend_for else None)
