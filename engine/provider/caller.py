"""`Caller`: runs items through the provider and returns one outcome per item.

Per item: render the prompt; per call, take a slot of the provider's
concurrency limit (engine/provider/slots.py) and a rate-limit lease, call the provider (in
its structured-output dialect, found on the first calls where not configured:
engine/provider/discovery.py), parse and validate; transient provider errors
are retried with jittered backoff, a refused request is not, invalid answers
are asked again with the errors attached. A failed item is a result
(`status: failed` with its error), never an exception.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from engine.config import ProviderConfig
from engine.errors import (
    AgentFlowError,
    OutputParseError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimited,
    RequestRefused,
    is_retryable,
)
from engine.outcome import ItemStatus, Outcome
from engine.prompt.confidence import answer_confidence
from engine.prompt.exchange import (
    build_messages,
    parse_result,
    repair_messages,
    request_body,
)
from engine.prompt.plan import OperationPlan
from engine.prompt.tokens import estimate_prompt_tokens
from engine.provider.client import ChatClient, Completion
from engine.provider.dialects import (
    AUTO,
    in_dialect,
    refusal_names_dialect,
    wants_schema,
)
from engine.provider.discovery import Dialects
from engine.provider.concurrency import ConcurrencyView
from engine.provider.fallback import Fallbacks
from engine.provider.leases import Lease
from engine.provider.slots import LocalSlotBackend, SlotLease
from engine.target import Target

log = logging.getLogger("agentflow.caller")

MAX_RATE_LIMIT_WAITS = 30  # 429s tolerated for one item before it fails


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    max_repairs: int = 3
    timeout: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 20.0


class Caller:
    def __init__(
        self,
        client_for: Callable[[ProviderConfig], ChatClient],
        lease_for: Callable[[ProviderConfig], Lease],
        policy: RetryPolicy,
        concurrency: int,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        dialects: Dialects | None = None,
        fallbacks: Fallbacks | None = None,
        slots_for: Callable[[ProviderConfig], SlotLease] | None = None,
    ):
        self._dialects = dialects or Dialects()
        self._fallbacks = fallbacks or Fallbacks()
        self._slots_for = slots_for or _in_process_slots()
        self._client_for = client_for
        self._lease_for = lease_for
        self._policy = policy
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def run_many(self, plan: OperationPlan, target: Target, items: list[dict]) -> list[Outcome]:
        """Outcomes for `items` (each {index, content, metadata?, id?}), in the same order."""
        return list(await asyncio.gather(*(self.run_item(plan, target, item) for item in items)))

    async def concurrency(self, provider: ProviderConfig) -> ConcurrencyView:
        """The provider's concurrency limit, as shared by every caller."""
        return await self._slots_for(provider).concurrency()

    async def run_item(self, plan: OperationPlan, target: Target, item: dict) -> Outcome:
        started = time.perf_counter()
        tally = _Tally()
        try:
            async with self._slots:
                result, completion = await self._fallbacks.run(
                    target, lambda served: self._attempt_until_valid(plan, served, item, tally))
            outcome = Outcome(item.get("index"), ItemStatus.COMPLETED, result, model=completion.model,
                              confidence=answer_confidence(plan.operation, result, completion.content,
                                                           completion.logprobs))
        except AgentFlowError as exc:
            outcome = Outcome.failed(item, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug must fail this item, not its neighbours
            # Logged with its traceback, but not the item: its content stays out of the logs.
            log.error("item %s failed on an unexpected %s", item.get("index"), type(exc).__name__, exc_info=True)
            outcome = Outcome.failed(item, "internal_error", f"unexpected {type(exc).__name__}")
        outcome.id = item.get("id")
        outcome.provider = tally.provider
        outcome.attempts = tally.attempts
        outcome.prompt_tokens = tally.prompt_tokens
        outcome.completion_tokens = tally.completion_tokens
        outcome.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        outcome.service_ms = round(tally.service_seconds * 1000, 2)
        return outcome

    async def _attempt_until_valid(self, plan, target, item, tally) -> tuple[object, Completion]:
        messages = build_messages(plan, item)
        repairs = 0
        while True:
            completion = await self._call(plan, target, messages, tally, item)
            try:
                return parse_result(plan, completion.content, completion.logprobs, completion.body), completion
            except OutputParseError as exc:
                repairs += 1
                if repairs > self._policy.max_repairs:
                    raise OutputParseError(
                        f"{exc.message} (gave up after {tally.attempts} attempts)", exc.raw, exc.errors
                    ) from None
                messages = repair_messages(messages, exc)

    async def _call(self, plan, target, messages, tally, item) -> Completion:
        """One answer, asked in the provider's dialect; a refused dialect makes way for the next."""
        planned = request_body(plan, target.model, messages, target.provider.logprobs, item)
        if plan.operation == "chat":  # the caller's own body, sent as given: no dialect rewrites it
            return await self._call_with_retries(plan, target, planned, tally)
        if not wants_schema(planned):
            return await self._call_with_retries(plan, target, in_dialect(planned, self._known(target)), tally)
        while True:
            ticket = await self._dialects.ticket(target.provider)
            try:
                completion = await self._call_with_retries(plan, target, in_dialect(planned, ticket.dialect), tally)
                await self._dialects.accepted(target.provider, ticket)
                return completion
            except RequestRefused as exc:
                if refusal_names_dialect(exc.detail, ticket.dialect) and self._dialects.refused(target.provider,
                                                                                                  ticket):
                    continue
                raise
            finally:
                self._dialects.release(target.provider, ticket)

    def _known(self, target: Target) -> str:
        return self._dialects.known(target.provider) or AUTO

    async def _call_with_retries(self, plan, target, body, tally) -> Completion:
        messages = body.get("messages") or []
        estimate = estimate_prompt_tokens(messages) + (plan.max_tokens or plan.completion_estimate)
        lease = self._lease_for(target.provider)
        client = self._fallbacks.client(target, self._client_for(target.provider))
        tally.provider = target.provider.name
        slots = self._slots_for(target.provider)
        failures = waits = 0
        while True:
            try:
                completion = await self._send(slots, lease, client, body, estimate, tally)
            except RateLimited as exc:
                lease.settle(estimate, 0)
                waits += 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise
                await lease.rate_limited(exc.retry_after)
                continue
            except RequestRefused as exc:
                lease.settle(estimate, 0)
                raise exc.naming(target.provider.name) from None  # the same body is refused again
            except ProviderError as exc:
                lease.settle(estimate, 0)
                failures += 1
                if not is_retryable(exc) or failures > self._policy.max_retries:
                    raise
                await self._sleep(self._backoff(failures))
                continue
            lease.settle(estimate, completion.prompt_tokens + completion.completion_tokens)
            await lease.learn(completion.limits)
            tally.prompt_tokens += completion.prompt_tokens
            tally.completion_tokens += completion.completion_tokens
            return completion

    async def _send(self, slots: SlotLease, lease: Lease, client: ChatClient, body: dict, estimate: int,
                    tally: "_Tally") -> Completion:
        """One call, in a slot of the provider's concurrency limit; its round trip teaches the limit."""
        await slots.acquire()
        try:
            await lease.acquire(estimate)
            tally.attempts += 1
            sent = time.perf_counter()
            completion = await client.complete(body, self._policy.timeout)
        except ProviderError as exc:
            if _overloaded(exc):
                slots.ended(time.perf_counter() - sent, dropped=True)
            else:
                slots.unused()  # a 429 or an error's quick answer says nothing of queueing
            raise
        except BaseException:
            slots.unused()
            raise
        rtt = time.perf_counter() - sent
        slots.ended(rtt)
        tally.service_seconds += rtt
        return completion

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._policy.backoff_cap, self._policy.backoff_base * 2 ** (failures - 1))
        return ceiling * self._rng.uniform(0.5, 1.0)  # jitter: retries of many items spread out


def _overloaded(exc: ProviderError) -> bool:
    """A timeout or a 503: the server has more than it can answer."""
    if isinstance(exc, ProviderTimeout):
        return True
    return isinstance(exc, ProviderHTTPError) and not isinstance(exc, RequestRefused) and exc.status == 503


def _in_process_slots() -> Callable[[ProviderConfig], SlotLease]:
    """Each provider's concurrency limit kept in this process (a caller that shares it with none)."""
    leases: dict[str, SlotLease] = {}

    def slots_for(provider: ProviderConfig) -> SlotLease:
        if provider.name not in leases:
            leases[provider.name] = SlotLease(LocalSlotBackend(provider.max_concurrency))
        return leases[provider.name]

    return slots_for


class _Tally:
    __slots__ = ("attempts", "prompt_tokens", "completion_tokens", "service_seconds", "provider")

    def __init__(self):
        self.provider: str | None = None  # the provider of the item's last call
        self.attempts = 0
        self.service_seconds = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0
