"""The suppression list: people whose events ingest drops, known only by keyed hashes.

    suppressions/{hash}           {type, request_id, at}: one identifier of a suppressed person,
                                  HMAC-SHA256 of ``type:value`` keyed with ``CDP_PII_HASH_KEY``
    suppression_state/current     {version, at}: bumped by every change to the list

The list never holds an identifier in the clear, and a hash without the key cannot be tested
against guesses (a plain SHA-256 of an email can).

``Suppressions`` is ingest's side: every event is checked against a set held in memory. The
set is refreshed at most every ``refresh_seconds``, and a refresh reads one document (the
version) unless the list changed, so ingest pays no store round trip per event and almost none
per refresh. An event is checked by every identifier identity would read from it (userId,
anonymousId, an alias's previousId, email and phone traits, device and advertising ids, the GA
client id, ``context.externalIds``), normalised as identity normalises them, so ``A@B.com`` is
suppressed with ``a@b.com``; only the types on the list are computed. With an empty list, the
check is one comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.errors import BackendUnavailable
from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier, normalise, raw_identifiers
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore, Transaction

SUPPRESSIONS = "suppressions"
STATE = "suppression_state"
CURRENT = "current"
LIST_LIMIT = 10_000_000
_CACHE_LIMIT = 50_000  # normalised raw values remembered (phone parsing is the slow part)


def keyed_hash(key: str, identifier: Identifier) -> str:
    """HMAC-SHA256 of ``type:value``, hex."""
    return hmac.new(key.encode(), identifier.key.encode(), hashlib.sha256).hexdigest()


class SuppressionList:
    """The privacy requests' side: adding and removing a person's hashes."""

    def __init__(self, documents: DocumentStore, hash_key: str) -> None:
        self._documents = documents
        self._key = hash_key

    def hashes(self, identifiers: Iterable[Identifier]) -> dict[str, str]:
        """hash → identifier type."""
        return {keyed_hash(self._key, i): i.type for i in identifiers}

    def owner(self, identifier: Identifier) -> str | None:
        """The request that suppressed ``identifier``, if it is suppressed."""
        doc = self._documents.get(SUPPRESSIONS, keyed_hash(self._key, identifier))
        return str(doc.get("request_id") or "") if doc else None

    def add(self, hashes: Mapping[str, str], request_id: str, at: str) -> int:
        return self._change({h: {"type": t, "request_id": request_id, "at": at}
                             for h, t in hashes.items()}, at)  # fmt: skip

    def remove(self, hashes: Sequence[str], at: str) -> int:
        return self._change(dict.fromkeys(hashes), at)

    def _change(self, docs: Mapping[str, dict[str, Any] | None], at: str) -> int:
        """Write or delete the entries and bump the version, in one transaction per 400."""
        items, changed = list(docs.items()), 0
        for start in range(0, max(len(items), 1), 400):
            chunk = items[start : start + 400]

            def write(tx: Transaction, chunk: list[tuple[str, Any]] = chunk) -> int:
                state = tx.get(STATE, CURRENT) or {}
                found = tx.get_all([(SUPPRESSIONS, h) for h, _ in chunk])
                n = 0
                for h, doc in chunk:
                    if doc is None and found[(SUPPRESSIONS, h)] is not None:
                        tx.delete(SUPPRESSIONS, h)
                        n += 1
                    elif doc is not None and found[(SUPPRESSIONS, h)] is None:
                        tx.set(SUPPRESSIONS, h, doc)
                        n += 1
                version = int(state.get("version") or 0) + 1
                tx.set(STATE, CURRENT, {"version": version, "at": at})
                return n

            changed += self._documents.run_transaction(write)
        return changed


class Suppressions:
    """Ingest's check (see the module docstring). Thread-safe: a refresh replaces the set."""

    def __init__(
        self,
        documents: DocumentStore,
        clock: Clock,
        hash_key: str,
        refresh_seconds: float = 30.0,
        *,
        config: IdentityConfig | None = None,
    ) -> None:
        self._documents = documents
        self._clock = clock
        self._key = hash_key.encode()
        self._refresh = refresh_seconds
        self._config = config or IdentityConfig()
        self._hashes: frozenset[str] = frozenset()
        self._types: frozenset[str] = frozenset()
        self._version: int | None = None
        self._next = float("-inf")
        self._lock = threading.Lock()
        self._normalised: dict[tuple[str, Any], str | None] = {}

    def suppressed(self, event: Mapping[str, Any]) -> bool:
        if self._clock.monotonic() >= self._next:
            self._reload()
        if not self._hashes:
            return False
        types, hashes, key = self._types, self._hashes, self._key
        for kind, raw in raw_identifiers(event):  # type: ignore[arg-type]
            if kind not in types or raw is None:
                continue
            text = self._text(kind, raw)
            if text is None:
                continue
            digest = hmac.new(key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()
            if digest in hashes:
                return True
        return False

    def _text(self, kind: str, raw: Any) -> str | None:
        """The normalised value (cached: the same phone or email recurs across events)."""
        if isinstance(raw, str) and kind in ("user_id", "anonymous_id"):
            text = raw.strip()
            return text if text and not self._config.is_blocked(kind, text) else None
        slot = (kind, raw) if isinstance(raw, str | int | float) else None
        if slot is not None and slot in self._normalised:
            return self._normalised[slot]
        found = normalise(kind, raw, self._config)
        value = found.value if found is not None else None
        if slot is not None:
            if len(self._normalised) >= _CACHE_LIMIT:
                self._normalised.clear()
            self._normalised[slot] = value
        return value

    def _reload(self) -> None:
        """One read of the version; the whole list only when it changed. A failed refresh
        keeps the set it had (the first one raises: an unknown list suppresses nobody)."""
        with self._lock:
            now = self._clock.monotonic()
            if now < self._next:
                return
            try:
                state = self._documents.get(STATE, CURRENT) or {}
                version = int(state.get("version") or 0)
                if version != self._version:
                    docs = self._documents.list(SUPPRESSIONS, limit=LIST_LIMIT)
                    self._hashes = frozenset(h for h, _ in docs)
                    self._types = frozenset(str(d.get("type")) for _, d in docs)
                    self._version = version
            except BackendUnavailable:
                if self._version is None:
                    raise
            self._next = now + self._refresh
