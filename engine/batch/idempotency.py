"""`Idempotency-Key` support: the same key from the same tenant returns the first batch.

A claim is a file under the store root, made whole and at once with `os.link`
(which fails if the claim exists), so two racing submissions agree on one
winner, also across replicas sharing the store. The claim holds a hash of the
request body: reusing a key for a different request is refused (as the IETF
idempotency-key draft asks).

A claim lasts as long as its batch: once the batch is gone (past its retention),
or never appeared (a crash while creating it), the key is free again. Taking
over such a claim happens under a lock, so two submissions cannot both do it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable, TypeVar

from engine.errors import InvalidRequest
from engine.store.files import file_lock, write_json

CREATE_GRACE_SECONDS = 600.0  # a claim whose batch is not created within this was left by a crash
Created = TypeVar("Created")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class IdempotencyIndex:
    def __init__(self, root: str | Path, batch_exists: Callable[[str], bool], clock: Callable[[], float] = time.time):
        self._dir = Path(root) / "idempotency"
        self._batch_exists = batch_exists
        self._clock = clock

    def create_once(self, owner: str, key: str | None, batch_id: str, body: bytes,
                    create: Callable[[], Created]) -> tuple[str, Created | None]:
        """Create batch `batch_id` with `create()` unless (owner, key) already holds a batch.

        Returns (batch_id, what `create` returned), or (the batch holding the key, None).
        Without a key, `create` just runs. If it fails, the key is free again.
        """
        if key is None:
            return batch_id, create()
        holder = self.claim(owner, key, batch_id, body)
        if holder != batch_id:
            return holder, None
        try:
            created = create()
        except BaseException:
            self.release(owner, key)
            raise
        self.created(owner, key, batch_id)
        return batch_id, created

    def claim(self, owner: str, key: str, batch_id: str, body: bytes) -> str:
        """Record `batch_id` for (owner, key); return the batch that holds the key."""
        if not 1 <= len(key) <= 255:
            raise InvalidRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._path(owner, key)
        mine = {"batch_id": batch_id, "body": hashlib.sha256(body).hexdigest(), "created": False,
                "at": self._clock()}
        if self._create(path, mine):
            return batch_id
        with file_lock(path.with_suffix(".lock"), batch_id):
            held = json.loads(path.read_text(encoding="utf-8"))
            if self._is_free(held):
                write_json(path, mine)
                return batch_id
        if held["body"] != mine["body"]:
            raise InvalidRequest("this Idempotency-Key was used for a different request", field="Idempotency-Key")
        return held["batch_id"]

    def created(self, owner: str, key: str, batch_id: str) -> None:
        """The claim's batch exists: from now on the claim ends when the batch does."""
        path = self._path(owner, key)
        with file_lock(path.with_suffix(".lock"), batch_id):
            held = json.loads(path.read_text(encoding="utf-8"))
            if held["batch_id"] == batch_id:
                write_json(path, {**held, "created": True})

    def release(self, owner: str, key: str) -> None:
        """Forget a claim whose batch could not be created."""
        self._path(owner, key).unlink(missing_ok=True)

    def _path(self, owner: str, key: str) -> Path:
        return self._dir / _digest(owner, key)

    def _create(self, path: Path, claim: dict) -> bool:
        """Make the claim at `path`, whole, unless there is one; whether it was made."""
        draft = path.with_name(f".draft-{claim['batch_id']}")
        write_json(draft, claim)
        try:
            os.link(draft, path)
            return True
        except FileExistsError:
            return False
        finally:
            draft.unlink(missing_ok=True)

    def _is_free(self, held: dict) -> bool:
        if self._batch_exists(held["batch_id"]):
            return False
        return held.get("created", True) or self._clock() - held.get("at", 0) > CREATE_GRACE_SECONDS
