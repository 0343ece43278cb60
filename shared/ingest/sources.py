"""Sources and write keys. Keys are compared by SHA-256 digest; the plain key is never stored."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from shared.errors import Forbidden, Unauthorized
from shared.settings import Source

MISSING_KEY = "Missing write key: send it as the HTTP Basic username or as writeKey in the body."
UNKNOWN_KEY = "Unknown write key."
DISABLED_SOURCE = "This source is disabled."


def hash_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode("utf-8")).hexdigest()


class SourceRegistry:
    def __init__(self, sources: Iterable[Source]) -> None:
        self._by_hash = {s.write_key_sha256: s for s in sources}

    def resolve(self, write_key: str | None) -> Source:
        if not write_key:
            raise Unauthorized(MISSING_KEY)
        digest = hash_key(write_key)
        for known, source in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                if not source.enabled:
                    raise Forbidden(DISABLED_SOURCE)
                return source
        raise Unauthorized(UNKNOWN_KEY)
