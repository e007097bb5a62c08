"""Outcomes (one per item, from the callers) -> the API's response shapes."""

from __future__ import annotations

from typing import Iterable

from engine.outcome import ItemStatus, Outcome

# Operations whose result is an object returned as the entry itself; the others
# (summarize, run) put their text or object under "result", as the spec shows.
_FLAT = {"label", "extract", "enrich"}


def sync_entry(operation: str, outcome: Outcome) -> dict:
    """One element of a sync response's `results`."""
    if outcome.status is ItemStatus.COMPLETED:
        result = outcome.result
        entry = dict(result) if operation in _FLAT and isinstance(result, dict) else {"result": result}
    else:
        entry = {"error": outcome.error}
    if outcome.id is not None:
        entry["id"] = outcome.id
    if outcome.cached:
        entry["cached"] = True
    return entry


def usage_of(outcomes: Iterable[Outcome]) -> dict:
    prompt = completion = 0
    for outcome in outcomes:
        prompt += outcome.prompt_tokens
        completion += outcome.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def answering_model(outcomes: Iterable[Outcome], requested: str) -> str:
    """The model the provider says answered (e.g. sim/... from the simulator)."""
    for outcome in outcomes:
        if outcome.model:
            return outcome.model if "/" in outcome.model else f"{requested.split('/', 1)[0]}/{outcome.model}"
    return requested
