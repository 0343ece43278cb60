"""Sources and write keys. Keys are compared by SHA-256 digest; the plain key is never stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import Forbidden, Unauthorized
from shared.settings import Source

MISSING_KEY = "Missing write key: send it as the HTTP Basic username or as writeKey in the body."
UNKNOWN_KEY = "Unknown write key."
DISABLED_SOURCE = "This source is disabled."


def hash_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode("utf-8")).hexdigest()


def _basic_username(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def write_key_of(
    headers: Mapping[str, str], query: Mapping[str, str], body: Mapping[str, Any]
) -> str | None:
    """Basic username first (server SDKs), then ``writeKey`` in the body (browser and some
    mobile SDKs), then in the query string (webhooks from tools that cannot set headers)."""
    key = _basic_username(headers) or body.get("writeKey") or query.get("writeKey")
    return key if isinstance(key, str) and key else None


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
