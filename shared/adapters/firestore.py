"""Document store on google-cloud-firestore."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.cloud import firestore

from shared.adapters.errors import transient_as_unavailable
from shared.errors import BackendUnavailable
from shared.ports.documents import Doc, DocumentStore, Ref, Transaction, check_id

T = TypeVar("T")


class _FirestoreTransaction(Transaction):
    def __init__(self, store: FirestoreDocumentStore, tx: Any) -> None:
        self._store = store
        self._tx = tx

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        return self._store._get_all(refs, transaction=self._tx)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._tx.set(self._store._ref(collection, doc_id, write=True), data)

    def delete(self, collection: str, doc_id: str) -> None:
        self._tx.delete(self._store._ref(collection, doc_id))


class FirestoreDocumentStore(DocumentStore):
    def __init__(self, project_id: str, database: str = "(default)") -> None:
        self._project_id = project_id
        self._database = database
        self._client: firestore.Client | None = None

    @property
    def client(self) -> firestore.Client:
        if self._client is None:
            self._client = firestore.Client(project=self._project_id, database=self._database)
        return self._client

    def _ref(self, collection: str, doc_id: str, *, write: bool = False) -> Any:
        check_id(doc_id, write=write)  # the fake's error, not a client's or the server's
        return self.client.collection(collection).document(doc_id)

    def _get_all(self, refs: Sequence[Ref], transaction: Any = None) -> dict[Ref, Doc | None]:
        out: dict[Ref, Doc | None] = dict.fromkeys(refs)
        if not refs:
            return out
        by_path = {self._ref(*ref).path: ref for ref in refs}
        with transient_as_unavailable("Firestore read"):
            snapshots = self.client.get_all(
                [self._ref(*ref) for ref in dict.fromkeys(refs)], transaction=transaction
            )
            for snapshot in snapshots:
                if snapshot.exists:
                    out[by_path[snapshot.reference.path]] = snapshot.to_dict()
        return out

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        return self._get_all(refs)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        ref = self._ref(collection, doc_id, write=True)
        with transient_as_unavailable("Firestore write"):
            ref.set(data)

    def delete(self, collection: str, doc_id: str) -> None:
        with transient_as_unavailable("Firestore delete"):
            self._ref(collection, doc_id).delete()

    def list(self, collection: str, limit: int = 1000) -> list[tuple[str, Doc]]:
        with transient_as_unavailable("Firestore list"):
            query = self.client.collection(collection).order_by("__name__").limit(limit)
            return [(s.id, s.to_dict() or {}) for s in query.stream()]

    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        @firestore.transactional
        def attempt(tx: Any) -> T:
            return fn(_FirestoreTransaction(self, tx))

        with transient_as_unavailable("Firestore transaction"):
            try:
                result: T = attempt(self.client.transaction(max_attempts=max_attempts))
                return result
            except ValueError as error:  # "Failed to commit transaction in N attempts."
                if "attempts" in str(error):
                    raise BackendUnavailable(str(error)) from error
                raise
