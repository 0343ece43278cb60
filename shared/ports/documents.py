"""The profile and identity store: documents in collections, with transactions (Firestore).

Documents are plain JSON-able dicts. A transaction function may run several times (on
contention), so it must only read through the transaction and return what it decided.

Document ids follow Firestore's rules (``check_id``), in the fake as in Firestore: a value from
an event is never an id as it is, but goes through ``document_id``, which always gives a valid one.
"""

from __future__ import annotations

import abc
import copy
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from shared.errors import BackendUnavailable, InvalidDocumentId

T = TypeVar("T")
Doc = dict[str, Any]
Ref = tuple[str, str]  # (collection, document id)
MAX_ID_BYTES = 1500
_RESERVED = re.compile(r"__.*__")


def valid_id(doc_id: str) -> bool:
    """Firestore takes it as a document id: not empty, no "/", not "." or "..", not
    ``__.*__`` (the length is checked on writes only: the emulator reads longer ids)."""
    reserved = _RESERVED.fullmatch(doc_id)
    return bool(doc_id) and "/" not in doc_id and doc_id not in (".", "..") and not reserved


def document_id(value: str) -> str:
    """The document id of any string, one to one. Percent-encoded, so never a "/"; what
    Firestore would still refuse ("", ".", "..", ``__x__``) takes a leading "%", and an id too
    long its digest after "%sha256:": percent-encoding never writes a "%" that is not followed
    by two hex digits, so neither can meet an encoded id."""
    key = quote(value, safe="")
    if len(key) >= MAX_ID_BYTES:  # ASCII: characters are bytes; room for the "%"
        return "%sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return key if valid_id(key) else "%" + key


def check_id(doc_id: str, *, write: bool = False) -> None:
    """Refuse what Firestore refuses (``valid_id``; and, for writes, over 1,500 bytes)."""
    if not valid_id(doc_id):
        raise InvalidDocumentId(f"Firestore refuses the document id {doc_id[:100]!r}.")
    if write and len(doc_id.encode()) > MAX_ID_BYTES:
        raise InvalidDocumentId(f"Document id over {MAX_ID_BYTES} bytes: {doc_id[:100]!r}...")


class Transaction(abc.ABC):
    @abc.abstractmethod
    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        """Read several documents in one round trip (all reads before any write)."""

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self.get_all([(collection, doc_id)])[(collection, doc_id)]

    @abc.abstractmethod
    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        """Replace the document; applied when the transaction commits."""

    @abc.abstractmethod
    def delete(self, collection: str, doc_id: str) -> None: ...


class DocumentStore(abc.ABC):
    @abc.abstractmethod
    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]: ...

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self.get_all([(collection, doc_id)])[(collection, doc_id)]

    @abc.abstractmethod
    def set(self, collection: str, doc_id: str, data: Doc) -> None: ...

    @abc.abstractmethod
    def delete(self, collection: str, doc_id: str) -> None: ...

    @abc.abstractmethod
    def list(self, collection: str, limit: int = 1000) -> list[tuple[str, Doc]]:
        """Documents of a collection in id order (for operators and tests, not hot paths)."""

    @abc.abstractmethod
    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        """Run ``fn`` atomically, retrying it on contention; raise BackendUnavailable if it
        never commits."""


class _FakeTransaction(Transaction):
    def __init__(self, store: InMemoryDocumentStore) -> None:
        self._store = store
        self.read_versions: dict[Ref, int] = {}
        self.writes: dict[Ref, Doc | None] = {}

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        if self.writes:
            raise ValueError("read after write in a transaction")
        for _, doc_id in refs:
            check_id(doc_id)
        with self._store._lock:
            self._store.reads += len(refs)
            out: dict[Ref, Doc | None] = {}
            for ref in refs:
                version, doc = self._store._docs.get(ref, (0, None))
                self.read_versions[ref] = version
                out[ref] = copy.deepcopy(doc)
            return out

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        check_id(doc_id, write=True)
        self.writes[(collection, doc_id)] = copy.deepcopy(data)

    def delete(self, collection: str, doc_id: str) -> None:
        check_id(doc_id)
        self.writes[(collection, doc_id)] = None


class InMemoryDocumentStore(DocumentStore):
    """Optimistic concurrency: a transaction commits only if nothing it read has changed.

    Counts reads and writes so that tests and benchmarks can check what an operation costs.
    """

    def __init__(self) -> None:
        self._docs: dict[Ref, tuple[int, Doc | None]] = {}
        self._lock = threading.RLock()
        self.reads = 0
        self.writes = 0
        self.conflicts = 0
        self.before_commit: Callable[[], None] | None = None  # lets tests interleave writers

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        for _, doc_id in refs:
            check_id(doc_id)
        with self._lock:
            self.reads += len(refs)
            return {ref: copy.deepcopy(self._docs.get(ref, (0, None))[1]) for ref in refs}

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        check_id(doc_id, write=True)
        self._apply({(collection, doc_id): copy.deepcopy(data)})

    def delete(self, collection: str, doc_id: str) -> None:
        check_id(doc_id)
        self._apply({(collection, doc_id): None})

    def list(self, collection: str, limit: int = 1000) -> list[tuple[str, Doc]]:
        with self._lock:
            found = sorted(
                (ref[1], copy.deepcopy(doc))
                for ref, (_, doc) in self._docs.items()
                if ref[0] == collection and doc is not None
            )
            self.reads += len(found[:limit])
            return found[:limit]

    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        for _ in range(max_attempts):
            tx = _FakeTransaction(self)
            result = fn(tx)
            if self.before_commit is not None:
                hook, self.before_commit = self.before_commit, None
                hook()
            with self._lock:
                if all(self._docs.get(r, (0, None))[0] == v for r, v in tx.read_versions.items()):
                    self._apply(tx.writes)
                    return result
                self.conflicts += 1
        raise BackendUnavailable(f"transaction did not commit after {max_attempts} attempts")

    def _apply(self, writes: dict[Ref, Doc | None]) -> None:
        with self._lock:
            for ref, doc in writes.items():
                version = self._docs.get(ref, (0, None))[0]
                self._docs[ref] = (version + 1, doc)
            self.writes += len(writes)

    def documents(self, collection: str) -> Iterable[tuple[str, Doc]]:
        return self.list(collection, limit=10**9)


def create_missing(store: DocumentStore, collection: str, docs: Mapping[str, Doc]) -> list[str]:
    """Create those of ``docs`` (id → document) that do not exist yet, in one transaction:
    written once, never overwritten, safe against a concurrent writer. Returns the ids created
    (Firestore allows 500 writes per transaction: callers pass fewer)."""

    def create(tx: Transaction) -> list[str]:
        refs: list[Ref] = [(collection, key) for key in docs]
        existing = tx.get_all(refs)
        new = [key for key, ref in zip(docs, refs, strict=True) if existing[ref] is None]
        for key in new:
            tx.set(collection, key, docs[key])
        return new

    return store.run_transaction(create)
