"""Identity figures for ``make bench``: events/s resolved, and document reads and writes per
event, counted (not estimated), for a known user, a new user and merges of growing profiles.

Runs on the in-memory document store, whose counters count what Firestore would bill (one
read per document read, one write per document written); ``CountingDocumentStore`` counts the
same on any store, e.g. the Firestore emulator.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.identity.profiles import ProfileRepository
from shared.ports.documents import Doc, DocumentStore, InMemoryDocumentStore, Ref, Transaction

T = TypeVar("T")
MERGE_SIZES = (1, 10, 100)


class _CountingTransaction(Transaction):
    def __init__(self, inner: Transaction, counter: CountingDocumentStore) -> None:
        self._inner, self._counter = inner, counter
        self.reads = self.writes = 0

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        self.reads += len(refs)
        return self._inner.get_all(refs)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self.writes += 1
        self._inner.set(collection, doc_id, data)

    def delete(self, collection: str, doc_id: str) -> None:
        self.writes += 1
        self._inner.delete(collection, doc_id)


class CountingDocumentStore(DocumentStore):
    """Counts the reads and writes of committed transaction attempts (a retried attempt's
    reads are billed too, so they count as well)."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.reads = self.writes = 0
        self.attempts = self.transactions = 0  # attempts above transactions: contention

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        self.reads += len(refs)
        return self.inner.get_all(refs)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self.writes += 1
        self.inner.set(collection, doc_id, data)

    def delete(self, collection: str, doc_id: str) -> None:
        self.writes += 1
        self.inner.delete(collection, doc_id)

    def list(self, collection: str, limit: int = 1000) -> list[tuple[str, Doc]]:
        found = self.inner.list(collection, limit)
        self.reads += len(found)
        return found

    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        attempts: list[_CountingTransaction] = []

        def counted(tx: Transaction) -> T:
            attempts.append(_CountingTransaction(tx, self))
            return fn(attempts[-1])

        try:
            result = self.inner.run_transaction(counted, max_attempts)
        finally:
            self.attempts += len(attempts)
        self.transactions += 1
        self.reads += sum(a.reads for a in attempts)
        self.writes += attempts[-1].writes if attempts else 0
        return result


@dataclass(frozen=True)
class Cost:
    reads: int
    writes: int


def ev(n: int, hour: int = 0, **ids: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "bench",
        "messageId": f"bench-{n}-{hour}-{sorted(ids.items())}",
        "timestamp": f"2026-01-01T{hour:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "sourceId": "bench",
        **ids,
    }


def _cost(store: CountingDocumentStore, repo: ProfileRepository, *events: dict[str, Any]) -> Cost:
    """What the events cost when they arrive in one message (as the handler records them)."""
    reads, writes = store.reads, store.writes
    repo.record_all(events)
    return Cost(store.reads - reads, store.writes - writes)


def costs(make_store: Callable[[], DocumentStore] = InMemoryDocumentStore) -> dict[str, Cost]:
    """Reads and writes of one event in each situation."""
    store = CountingDocumentStore(make_store())
    repo = ProfileRepository(store)
    u, a = f"u-{uuid.uuid4()}", f"a-{uuid.uuid4()}"  # fresh ids, even on a shared emulator
    out = {"new user (userId + anonymousId)": _cost(store, repo, ev(1, userId=u, anonymousId=a))}
    # Within the hour of the profile's last_seen an event that changes nothing writes nothing.
    out["known user, this instance"] = _cost(store, repo, ev(2, userId=u, anonymousId=a))
    other = ProfileRepository(store)  # another instance: its cache has never seen this user
    out["known user, another instance"] = _cost(store, other, ev(3, userId=u, anonymousId=a))
    out["known user, same instance again"] = _cost(store, other, ev(4, userId=u))
    out["known user, an hour later"] = _cost(store, other, ev(4, hour=1, userId=u))
    message = [ev(n, userId=u, type="identify", traits={"n": n}) for n in range(5, 15)]
    out["known user, 10 events in one message (together)"] = _cost(store, other, *message)
    for size in MERGE_SIZES:
        out[f"merge of two profiles of {size} ids each"] = merge_cost(size, make_store)
    return out


def merge_cost(size: int, make_store: Callable[[], DocumentStore] = InMemoryDocumentStore) -> Cost:
    """The cost of the event that merges a user's profile with an anonymous one, both holding
    ``size`` identifiers."""
    store = CountingDocumentStore(make_store())
    repo = ProfileRepository(store)
    u, v = f"u-{uuid.uuid4()}", f"visitor-{uuid.uuid4()}"
    for n in range(size):
        repo.record(ev(n, userId=u, anonymousId=f"{u}-device-{n}"))
        repo.record(ev(n, anonymousId=v, context={"device": {"id": f"{v}-dev-{n}"}}))
    return _cost(store, repo, ev(10_000, userId=u, anonymousId=v))


def throughput(events: int = 3000) -> float:
    """Events/s resolved on the in-memory store: 1 in 10 events is a new visitor, a third of
    those sign up (a merge); the rest are known users."""
    repo = ProfileRepository(InMemoryDocumentStore())
    stream = []
    for n in range(events):
        user = n % 100
        if n % 10 == 0:
            stream.append(ev(n, anonymousId=f"v{n}"))
        elif n % 30 == 1:
            stream.append(ev(n, userId=f"u{user}", anonymousId=f"v{n - 1}"))
        else:
            stream.append(ev(n, userId=f"u{user}"))
    started = time.perf_counter()
    for n in range(0, len(stream), 10):  # messages of 10 events, as SDKs batch them
        repo.record_all(stream[n : n + 10])
    return events / (time.perf_counter() - started)


def run() -> list[str]:
    """Result lines. With ``FIRESTORE_EMULATOR_HOST`` set, the counts are also taken on the
    Firestore emulator through the real adapter."""
    lines = [f"identity: {throughput():,.0f} events/s resolved (in-memory store, one process)"]
    stores: dict[str, Callable[[], DocumentStore]] = {"": InMemoryDocumentStore}
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        from shared.adapters.firestore import FirestoreDocumentStore

        project = os.environ.get("CDP_PROJECT_ID", "cdp-bench")
        stores[" (Firestore emulator)"] = lambda: FirestoreDocumentStore(project)
    for where, make_store in stores.items():
        for situation, cost in costs(make_store).items():
            lines.append(f"identity{where}: {situation}: {cost.reads} reads, {cost.writes} writes")
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
