"""Not paying twice for the same call: duplicate folding and the response cache.

Both are keyed by the hash of what would be sent: model, messages, response
format and sampling parameters (the whole request body). Within a batch,
identical prompts are *folded*: the first is sent, the others get its answer.
Across batches and re-runs, the opt-in *cache* keeps completed answers in the
store, so a re-run, a retry after a crash or a prompt tweak on part of the
rows pays only for what changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path

import polars as pl

from engine.prompt.operations import OperationPlan, build_messages, request_body
from engine.target import Target

CACHE_SCHEMA = {"key": pl.Binary, "result": pl.String, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64}


def request_key(plan: OperationPlan, target: Target, item: dict) -> bytes:
    """16-byte digest of the request an item makes (equal keys: interchangeable answers)."""
    # As planned, before the provider's dialect rewrites it: the same question in any dialect.
    body = request_body(plan, target.model, build_messages(plan, item), target.provider.logprobs, item)
    canonical = json.dumps([target.provider.base_url, body], sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()


def reused_outcome(item: dict, source: dict, how: str) -> dict:
    """`source`'s answer given to `item`; nothing was paid for it (`how`: folded or cached)."""
    return {
        "index": item["index"], "id": item.get("id"), "status": source["status"],
        "result": source.get("result"), "error": source.get("error"), "model": source.get("model"),
        "attempts": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_ms": 0.0, "service_ms": 0.0,
        how: True,
    }


class Folder:
    """Within one batch: the first item with a key leads; later ones wait for its outcome."""

    def __init__(self, remember: int = 200_000):
        self._followers: dict[bytes, list[dict]] = {}  # keys in flight -> items waiting on them
        self._answers: dict[bytes, dict] = {}  # keys answered (bounded)
        self._remember = remember

    def admit(self, key: bytes, item: dict) -> dict | None | bool:
        """True: send it. None: it waits for an identical item in flight. dict: its outcome now."""
        if key in self._answers:
            return reused_outcome(item, self._answers[key], "folded")
        if key in self._followers:
            self._followers[key].append(item)
            return None
        self._followers[key] = []
        return True

    def resolve(self, key: bytes, outcome: dict) -> list[dict]:
        """The leader's outcome arrived: the outcomes of everyone who waited on it."""
        waiting = self._followers.pop(key, [])
        if len(self._answers) < self._remember:
            self._answers[key] = outcome
        return [reused_outcome(item, outcome, "folded") for item in waiting]

    def abandon(self, key: bytes) -> list[dict]:
        """The leader never ran (cancelled): its followers are released unanswered."""
        return self._followers.pop(key, [])


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

    def lookup(self, keys: list[bytes]) -> dict[bytes, dict]:
        """Cached answers for `keys` (only the ones present)."""
        if not keys:
            return {}
        with self._lock:
            known = self._load()
        wanted = pl.DataFrame({"key": keys}, schema={"key": pl.Binary})
        hits = wanted.join(known, on="key", how="inner")
        return {row["key"]: {"status": "completed", "result": json.loads(row["result"]), "model": None}
                for row in hits.iter_rows(named=True)}

    def add(self, key: bytes, outcome: dict) -> None:
        if outcome["status"] == "completed":
            self._pending.append({"key": key, "result": json.dumps(outcome["result"], ensure_ascii=False),
                                  "prompt_tokens": outcome.get("prompt_tokens") or 0,
                                  "completion_tokens": outcome.get("completion_tokens") or 0})

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
