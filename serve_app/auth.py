"""Optional bearer-token auth (AGENTFLOW_API_KEYS).

Only hashes of keys are kept; a batch's `owner` is the hash of the key that
created it. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from engine.errors import Unauthorized

ANONYMOUS = "anonymous"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Authenticator:
    def __init__(self, api_keys: tuple[str, ...]):
        self._hashes = tuple(key_hash(k) for k in api_keys)

    @property
    def enabled(self) -> bool:
        return bool(self._hashes)

    def owner_of(self, request: Request) -> str:
        """The tenant making the request; raises Unauthorized when keys are on and this one is wrong."""
        if not self._hashes:
            return ANONYMOUS
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing API key: send Authorization: Bearer <key>")
        candidate = key_hash(token.strip())
        matched = False
        for known in self._hashes:  # no early exit: time does not depend on which key matched
            matched |= hmac.compare_digest(candidate, known)
        if not matched:
            raise Unauthorized("invalid API key")
        return candidate[:32]
