"""Not paying twice for the same call: duplicate folding and the response cache.

Both are keyed by the hash of what would be sent: model, messages, response
format and sampling parameters (the whole request body). Within a batch,
identical prompts are *folded*: the first is sent, the others get its answer.
Across batches and re-runs, the opt-in *cache* keeps completed answers in the
store, so a re-run, a retry after a crash or a prompt tweak on part of the
rows pays only for what changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from pathlib import Path

import polars as pl

from engine.errors import AgentFlowError
from engine.outcome import ItemStatus, Outcome, ReuseSource
from engine.prompt.exchange import build_messages, request_body
from engine.prompt.plan import OperationPlan
from engine.target import Target

CACHE_SCHEMA = {"key": pl.Binary, "result": pl.String, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64}


def request_key(plan: OperationPlan, target: Target, item: dict) -> bytes:
    """16-byte digest of the request an item makes (equal keys: interchangeable answers)."""
    # As planned, before the provider's dialect rewrites it: the same question in any dialect.
    body = request_body(plan, target.model, build_messages(plan, item), target.provider.logprobs, item)
    canonical = json.dumps([target.provider.base_url, body], sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()


class InFlightDuplicates:
    """Folds identical requests of one batch: the first item with a key leads, later ones wait for its outcome.

    A follower whose leader never ends (the batch was cancelled) stays unanswered
    here: the coordinator then ends it, with every item not yet done, as cancelled.
    """

    def __init__(self, remember: int = 200_000):
        self._followers: dict[bytes, list[dict]] = {}  # keys in flight -> items waiting on them
        self._answers: dict[bytes, Outcome] = {}  # keys answered (bounded)
        self._remember = remember

    def admit(self, key: bytes, item: dict) -> Outcome | None | bool:
        """True: send it. None: it waits for an identical item in flight. An Outcome: its answer now."""
        if key in self._answers:
            return self._answers[key].given_to(item, ReuseSource.FOLD)
        if key in self._followers:
            self._followers[key].append(item)
            return None
        self._followers[key] = []
        return True

    def resolve(self, key: bytes, outcome: Outcome) -> list[Outcome]:
        """The leader's outcome arrived: the outcomes of everyone who waited on it."""
        waiting = self._followers.pop(key, [])
        if len(self._answers) < self._remember:
            self._answers[key] = outcome
        return [outcome.given_to(item, ReuseSource.FOLD) for item in waiting]


class Reuse:
    """What one operation's items need not pay for: answers in the response cache, identical items in flight.

    The one flow for the sync calls (`fold=False`: a call's items are sent as
    they are) and the batch coordinator: `sort` the items into the answered and
    the ones to send, `settle` each outcome of a sent item, `flush` the cache.
    """

    def __init__(self, plan: OperationPlan, target: Target, cache: "ResponseCache | None", fold: bool):
        self._plan, self._target = plan, target
        self._cache = cache
        self._duplicates = InFlightDuplicates() if fold else None
        self._keys: dict[int, bytes] = {}  # index of an item sent -> its request key

    async def sort(self, items: list[dict]) -> tuple[list[Outcome], list[dict]]:
        """(the outcomes of the items answered now, the items to send)."""
        if self._cache is None and self._duplicates is None:
            return [], items
        keys = [self._key(item) for item in items]
        hits = await asyncio.to_thread(self._cache.lookup, [k for k in keys if k]) if self._cache else {}
        answered, to_send = [], []
        for item, key in zip(items, keys):
            if key is None:
                to_send.append(item)
            elif key in hits:
                answered.append(hits[key].given_to(item, ReuseSource.CACHE))
            else:
                admitted = True if self._duplicates is None else self._duplicates.admit(key, item)
                if admitted is True:
                    self._keys[item["index"]] = key
                    to_send.append(item)
                elif admitted is not None:
                    answered.append(admitted)
        return answered, to_send

    def settle(self, outcome: Outcome) -> list[Outcome]:
        """A sent item's outcome: kept in the cache; the outcomes of the identical items that waited on it."""
        key = self._keys.pop(outcome.index, None)
        if key is None:
            return []
        if self._cache is not None:
            self._cache.add(key, outcome)
        return [] if self._duplicates is None else self._duplicates.resolve(key, outcome)

    async def flush(self) -> None:
        if self._cache is not None:
            await asyncio.to_thread(self._cache.flush)

    def _key(self, item: dict) -> bytes | None:
        try:
            return request_key(self._plan, self._target, item)
        except AgentFlowError:
            return None  # e.g. a template field missing from this item: the caller reports it


class ResponseCache:
    """Completed answers under <store>/cache/, one Parquet part per flush; loaded once per batch."""

    def __init__(self, root: str | Path):
        self._dir = Path(root) / "cache"
        self._known: pl.DataFrame | None = None
        self._pending: list[dict] = []
        self._lock = threading.Lock()

    def _load(self) -> pl.DataFrame:
        if self._known is None:
            parts = sorted(self._dir.glob("part-*.parquet"))
            frames = [pl.read_parquet(p) for p in parts]
            known = pl.concat(frames) if frames else pl.DataFrame(schema=CACHE_SCHEMA)
            self._known = known.unique(subset="key", keep="first")
        return self._known

    def lookup(self, keys: list[bytes]) -> dict[bytes, Outcome]:
        """Cached answers for `keys` (only the ones present), to be given to items with `Outcome.given_to`."""
        if not keys:
            return {}
        with self._lock:
            known = self._load()
        wanted = pl.DataFrame({"key": keys}, schema={"key": pl.Binary})
        hits = wanted.join(known, on="key", how="inner")
        return {row["key"]: Outcome(None, ItemStatus.COMPLETED, json.loads(row["result"]))
                for row in hits.iter_rows(named=True)}

    def add(self, key: bytes, outcome: Outcome) -> None:
        if outcome.status is ItemStatus.COMPLETED:
            self._pending.append({"key": key, "result": json.dumps(outcome.result, ensure_ascii=False),
                                  "prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens})

    def flush(self) -> None:
        """Write what was added since the last flush (temp file + rename: never a torn part)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        frame = pl.DataFrame(pending, schema=CACHE_SCHEMA)
        self._dir.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        temp = self._dir / f".{name}.tmp"
        frame.write_parquet(temp)
        temp.rename(self._dir / name)
        with self._lock:
            if self._known is not None:
                self._known = pl.concat([self._known, frame]).unique(subset="key", keep="first")
