"""Promotion state: which anonymous ids were promoted, read without a per-event round trip.

Stored as one document per id, ``tier_promotions/{anonymous_id}``, written once (a transaction
that only creates). Each instance keeps a cache in front of it:

- **promoted** answers are cached for the instance's life: a promotion is never undone by
  traffic (a deletion request removes the document; instances then restart or age it out);
- **not promoted** answers are cached for ``negative_ttl_seconds`` (default 5 s);
- a request's **misses** are read in one batched ``get_all``, whatever the number of events.

So a known id costs no read at all, an unknown one costs one batched read per request per TTL
window, and an id promoted on one instance is engaged on every other instance at most
``negative_ttl_seconds`` later (immediately on the instance that promoted it). If the store is
down, the router treats the request's ids as promoted, uncached: events then take the full
pipeline, which costs more but loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence, Set
from dataclasses import asdict, dataclass

from shared.errors import BackendUnavailable
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore, create_missing, document_id

PROMOTIONS = "tier_promotions"


def doc_id(anonymous_id: str) -> str:
    """The id of its promotion, attribution and back-fill documents: valid for any id that
    ingest accepts, "" and "." and ``__x__`` included (see ``document_id``)."""
    return document_id(anonymous_id)


@dataclass(frozen=True)
class Promotion:
    anonymous_id: str
    reason: str
    at: str  # event time of the evidence (ISO-8601)
    user_id: str | None = None
    message_id: str | None = None
    source_id: str | None = None

    def to_doc(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    reads: int = 0  # batched store reads (round trips), not documents
    store_failures: int = 0


class PromotionState:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        negative_ttl_seconds: float = 5.0,
        max_ids: int = 200_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = negative_ttl_seconds
        self._max = max_ids
        self._promoted: set[str] = set()
        self._not_promoted: dict[str, float] = {}  # id -> monotonic expiry
        self._recording: set[str] = set()  # being recorded by a request of this instance
        self._lock = threading.Lock()
        self.stats = CacheStats()

    @property
    def known(self) -> Set[str]:
        """The ids this instance already knows were promoted, read without the store (a live
        view of the cache, for membership tests)."""
        return self._promoted

    def promoted(self, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` that was promoted; at most one store round trip. Raises
        BackendUnavailable when the store does not answer (nothing is cached then)."""
        now = self._clock.monotonic()
        wanted = ids if isinstance(ids, set) else set(ids)
        found = wanted & self._promoted
        negatives = self._not_promoted
        missing = [a for a in wanted - found if negatives.get(a, 0.0) <= now]
        self.stats.hits += len(wanted) - len(missing)
        if not missing:
            return found
        self.stats.misses += len(missing)
        try:
            docs = self._store.get_all([(PROMOTIONS, doc_id(a)) for a in missing])
            self.stats.reads += 1
        except BackendUnavailable:
            self.stats.store_failures += 1
            raise
        fresh = {a for a in missing if docs[(PROMOTIONS, doc_id(a))] is not None}
        self._remember(fresh, [a for a in missing if a not in fresh], now)
        return found | fresh

    def record(self, promotions: Sequence[Promotion]) -> list[Promotion]:
        """Record promotions not yet stored (once each, race-safe); returns the new ones.

        An id another request of this instance is recording right now is left to that one:
        two transactions creating the same document deadlock until one times out (about 2 s
        on the Firestore emulator, the whole request waiting)."""
        with self._lock:
            wanted = {
                p.anonymous_id: p
                for p in promotions
                if p.anonymous_id not in self._promoted and p.anonymous_id not in self._recording
            }
            self._recording |= wanted.keys()
        if not wanted:
            return []
        try:
            by_key = {doc_id(a): p for a, p in wanted.items()}
            docs = {k: p.to_doc() for k, p in by_key.items()}
            keys = create_missing(self._store, PROMOTIONS, docs)
            self._remember(set(wanted), [], self._clock.monotonic())
        finally:
            with self._lock:
                self._recording -= wanted.keys()
        return [by_key[k] for k in keys]

    def _remember(self, promoted: set[str], not_promoted: list[str], now: float) -> None:
        with self._lock:
            if len(self._promoted) + len(self._not_promoted) + len(promoted) > self._max:
                self._not_promoted.clear()  # negatives are cheap to re-learn
                if len(self._promoted) + len(promoted) > self._max:
                    self._promoted.clear()
            self._promoted |= promoted
            for anon in promoted:
                self._not_promoted.pop(anon, None)
            expiry = now + self._ttl
            for anon in not_promoted:
                self._not_promoted[anon] = expiry
