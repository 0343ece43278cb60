"""DocumentStore contract: the fake and Firestore (emulator) behave alike."""

from __future__ import annotations

import threading

import pytest
from google.api_core.exceptions import InvalidArgument

from shared.adapters.firestore import FirestoreDocumentStore
from shared.errors import InvalidDocumentId
from shared.ports.documents import DocumentStore, Transaction, create_missing
from tests.conftest import PROJECT

REFUSED = ["", "a/b", ".", "..", "__x__", "__reserved__"]  # what Firestore refuses as an id
TAKEN = [" ", "...", "_x_", "__x", "x__", "__", "%", "%2F", "é", "a" * 1500]  # and takes


def test_set_get_list_delete(documents: DocumentStore, unique: str) -> None:
    col = f"c{unique}"
    assert documents.get(col, "a") is None
    documents.set(col, "b", {"n": 2, "nested": {"x": [1, 2]}})
    documents.set(col, "a", {"n": 1})
    assert documents.get(col, "b") == {"n": 2, "nested": {"x": [1, 2]}}
    assert [doc_id for doc_id, _ in documents.list(col)] == ["a", "b"]
    got = documents.get_all([(col, "a"), (col, "zz")])
    assert got == {(col, "a"): {"n": 1}, (col, "zz"): None}
    documents.delete(col, "a")
    assert documents.get(col, "a") is None


def test_transaction_commits_all_or_nothing(documents: DocumentStore, unique: str) -> None:
    col = f"c{unique}"

    def move(tx: Transaction) -> str:
        tx.get_all([(col, "x"), (col, "y")])
        tx.set(col, "x", {"v": 1})
        tx.set(col, "y", {"v": 2})
        return "done"

    assert documents.run_transaction(move) == "done"
    assert documents.get(col, "x") == {"v": 1} and documents.get(col, "y") == {"v": 2}

    def fail(tx: Transaction) -> None:
        tx.get(col, "x")
        tx.set(col, "x", {"v": 99})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        documents.run_transaction(fail)
    assert documents.get(col, "x") == {"v": 1}


def test_concurrent_increments_are_never_lost(documents: DocumentStore, unique: str) -> None:
    """Two writers, a few increments each (the emulator resolves contention slowly)."""
    col = f"c{unique}"
    documents.set(col, "counter", {"n": 0})

    def increment(tx: Transaction) -> None:
        current = tx.get(col, "counter") or {"n": 0}
        tx.set(col, "counter", {"n": current["n"] + 1})

    def writer() -> None:
        for _ in range(3):
            documents.run_transaction(increment)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert documents.get(col, "counter") == {"n": 6}


def test_create_missing_writes_only_what_does_not_exist(
    documents: DocumentStore, unique: str
) -> None:
    collection = f"contract-{unique}"
    documents.set(collection, "kept", {"v": "first"})
    created = create_missing(documents, collection, {"kept": {"v": "second"}, "new": {"v": 1}})
    assert created == ["new"]
    assert documents.get(collection, "kept") == {"v": "first"}  # never overwritten
    assert documents.get(collection, "new") == {"v": 1}
    assert create_missing(documents, collection, {"new": {"v": 2}}) == []


@pytest.mark.parametrize("refused", REFUSED)
def test_ids_firestore_refuses_are_refused_alike(
    documents: DocumentStore, unique: str, refused: str
) -> None:
    col = f"c{unique}"
    with pytest.raises(InvalidDocumentId):
        documents.get(col, refused)
    with pytest.raises(InvalidDocumentId):
        documents.set(col, refused, {"v": 1})
    with pytest.raises(InvalidDocumentId):
        documents.run_transaction(lambda tx: tx.set(col, refused, {"v": 1}))
    with pytest.raises(InvalidDocumentId):
        documents.set(col, "a" * 1501, {"v": 1})  # over 1,500 bytes


def test_ids_firestore_takes_are_taken_alike(documents: DocumentStore, unique: str) -> None:
    col = f"c{unique}"
    for n, taken in enumerate(TAKEN):
        documents.set(col, taken, {"n": n})
    assert sorted(n for _, doc in documents.list(col) for n in doc.values()) == list(
        range(len(TAKEN))
    )
    got = documents.get_all([(col, taken) for taken in TAKEN])
    assert [doc["n"] for doc in got.values() if doc] == list(range(len(TAKEN)))


@pytest.mark.parametrize("refused", [*REFUSED, "a" * 1501])
def test_the_refused_ids_are_firestores_own_rule(emulators: object, refused: str) -> None:
    """Past the adapter's check, the client or the emulator itself refuses each of them."""
    client = FirestoreDocumentStore(PROJECT).client
    with pytest.raises((ValueError, InvalidArgument)):
        client.collection("contract-refused").document(refused).set({"v": 1})
