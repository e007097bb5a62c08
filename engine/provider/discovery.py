"""Which structured-output dialect each provider speaks: set in its config, or found by the first calls.

A provider with dialect `auto` is found out on the first call that asks for a
schema: it is sent in the first dialect of `dialects.DISCOVERY_ORDER`; a
refusal naming response_format (or the dialect's own field) moves to the
next, an answer settles it. While one call of this process tries, the others
wait for its answer, so a batch's first few hundred calls are not all refused.
A try that ends in a transient error settles nothing; the calls then stop
waiting for each other and any of them may settle it.

Settled is settled for the life of the process, and written to a `DialectBook`
that the cluster's caller processes share (the provider's limiter actor), so
the others start from it instead of finding it again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol

from engine.config import ProviderConfig
from engine.provider.dialects import AUTO, DISCOVERY_ORDER, next_dialect

log = logging.getLogger(__name__)


class DialectBook(Protocol):
    """Where the dialect found for one provider is kept for the other processes."""

    async def recall(self) -> str | None: ...

    async def remember(self, dialect: str) -> None: ...


class LocalDialectBook:
    """A book for this process alone (unit tests, a caller with no cluster)."""

    def __init__(self):
        self._dialect: str | None = None

    async def recall(self) -> str | None:
        return self._dialect

    async def remember(self, dialect: str) -> None:
        self._dialect = dialect


@dataclass
class Ticket:
    """The dialect one call is sent in; `probe`: the others wait for this call's answer."""

    dialect: str
    probe: bool = False


@dataclass
class _Finding:
    candidate: str
    settled: bool
    probing: bool = False
    waiting: bool = True  # the calls wait for one try at a time (until a try ends undecided)
    asked_book: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Dialects:
    """Per process: each provider's structured-output dialect."""

    def __init__(self, book_for: Callable[[ProviderConfig], DialectBook] | None = None):
        self._book_for = book_for or (lambda provider: LocalDialectBook())
        self._books: dict[str, DialectBook] = {}
        self._findings: dict[str, _Finding] = {}

    def known(self, provider: ProviderConfig) -> str | None:
        """The settled dialect, None while it is not known."""
        finding = self._finding(provider)
        return finding.candidate if finding.settled else None

    async def ticket(self, provider: ProviderConfig) -> Ticket:
        """The dialect to send the next schema-carrying call in (waits while another call tries)."""
        finding = self._finding(provider)
        while not finding.settled:
            if finding.probing:
                await finding.wake.wait()
                continue
            if not finding.waiting:
                return Ticket(finding.candidate)
            finding.probing = True
            if not finding.asked_book:
                finding.asked_book = True
                if known := await self._recall(provider):
                    self._settle(finding, known)
                    break
            return Ticket(finding.candidate, probe=True)
        return Ticket(finding.candidate)

    async def accepted(self, provider: ProviderConfig, ticket: Ticket) -> None:
        """The provider answered a call sent in `ticket.dialect`: settled."""
        finding = self._finding(provider)
        if finding.settled:
            return
        log.info("provider %r takes structured output as %s (found by trying)", provider.name, ticket.dialect)
        self._settle(finding, ticket.dialect)
        try:
            await self._book(provider).remember(ticket.dialect)
        except Exception:  # noqa: BLE001 - the other processes find it themselves then
            log.warning("could not share provider %r's dialect", provider.name, exc_info=True)

    def refused(self, provider: ProviderConfig, ticket: Ticket) -> bool:
        """The provider refused `ticket.dialect`: True when another dialect is left to try."""
        finding = self._finding(provider)
        if finding.settled:
            return False
        if ticket.dialect == finding.candidate:  # not already moved on by another call's refusal
            following = next_dialect(ticket.dialect)
            if following is None:
                return False
            log.info("provider %r refused structured output as %s: trying %s", provider.name, ticket.dialect,
                     following)
            finding.candidate = following
        self._end_probe(finding, ticket)
        return True

    def release(self, provider: ProviderConfig, ticket: Ticket) -> None:
        """After the call, whatever its end: a try that settled nothing stops the others waiting."""
        finding = self._finding(provider)
        if ticket.probe and finding.probing and not finding.settled:
            finding.waiting = False
        self._end_probe(finding, ticket)

    def _finding(self, provider: ProviderConfig) -> _Finding:
        if provider.name not in self._findings:
            configured = provider.dialect
            self._findings[provider.name] = (
                _Finding(DISCOVERY_ORDER[0], settled=False) if configured == AUTO
                else _Finding(configured, settled=True)
            )
        return self._findings[provider.name]

    def _settle(self, finding: _Finding, dialect: str) -> None:
        finding.candidate, finding.settled, finding.probing = dialect, True, False
        finding.wake.set()

    def _end_probe(self, finding: _Finding, ticket: Ticket) -> None:
        if ticket.probe and finding.probing:
            finding.probing = False
            ticket.probe = False
            finding.wake.set()
            finding.wake = asyncio.Event()

    def _book(self, provider: ProviderConfig) -> DialectBook:
        if provider.name not in self._books:
            self._books[provider.name] = self._book_for(provider)
        return self._books[provider.name]

    async def _recall(self, provider: ProviderConfig) -> str | None:
        try:
            return await self._book(provider).recall()
        except Exception:  # noqa: BLE001 - found again by trying, then
            log.warning("could not read provider %r's shared dialect", provider.name, exc_info=True)
            return None
