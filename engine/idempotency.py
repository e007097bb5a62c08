"""`Idempotency-Key` support: the same key from the same tenant returns the first batch.

A claim is a file created with O_EXCL under the store root, so two racing
submissions agree on one winner, also across replicas sharing the store. The
claim holds a hash of the request body: reusing a key for a different request
is refused (as the IETF idempotency-key draft asks).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from engine.errors import InvalidRequest


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class IdempotencyIndex:
    def __init__(self, root: str | Path):
        self._dir = Path(root) / "idempotency"

    def claim(self, owner: str, key: str, batch_id: str, body: bytes) -> str:
        """Record `batch_id` for (owner, key); return the batch that holds the key."""
        if not 1 <= len(key) <= 255:
            raise InvalidRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / _digest(owner, key)
        body_hash = hashlib.sha256(body).hexdigest()
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            claim = json.loads(path.read_text(encoding="utf-8"))
            if claim["body"] != body_hash:
                raise InvalidRequest("this Idempotency-Key was used for a different request",
                                     field="Idempotency-Key") from None
            return claim["batch_id"]
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"batch_id": batch_id, "body": body_hash}, handle)
        return batch_id

    def release(self, owner: str, key: str) -> None:
        """Forget a claim whose batch could not be created."""
        (self._dir / _digest(owner, key)).unlink(missing_ok=True)
