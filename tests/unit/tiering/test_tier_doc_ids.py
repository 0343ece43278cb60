"""Ids that ingest accepts, however odd, are stored and found by every tier store: an id is never
a document id as it is (Firestore refuses "", "/", ".", "..", ``__.*__`` and over 1,500 bytes)."""

from __future__ import annotations

import pytest

from shared.errors import InvalidDocumentId
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore, check_id
from shared.tiering.attribution import find, first_touch, record_missing
from shared.tiering.state import Promotion, PromotionState, doc_id

# Ingest accepts each of these as an anonymousId (with a userId for ""); identity blocks some.
HOSTILE = [
    "", " ", "\t\n", ".", "..", "...", "/", "a/b", "__x__", "____", "__", "%", "%2F", "%.",
    "null", "anonymous", "0", "00000000-0000-0000-0000-000000000000", "é" * 600, "x" * 1501,
]  # fmt: skip
ORDINARY = {"anon-123": "anon-123", "a b": "a%20b", "é": "%C3%A9", "_x_": "_x_"}


@pytest.mark.parametrize("refused", ["", "a/b", ".", "..", "__x__", "____"])
def test_the_fake_refuses_what_firestore_refuses(refused: str) -> None:
    store = InMemoryDocumentStore()
    with pytest.raises(InvalidDocumentId):
        store.get("c", refused)
    with pytest.raises(InvalidDocumentId):
        store.set("c", refused, {})
    with pytest.raises(InvalidDocumentId):
        store.run_transaction(lambda tx: tx.set("c", refused, {}))


def test_doc_id_is_always_valid_and_one_to_one() -> None:
    ids = [doc_id(value) for value in [*HOSTILE, *ORDINARY]]
    for one in ids:
        check_id(one, write=True)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("value", "expected"), ORDINARY.items())
def test_ordinary_ids_keep_the_document_ids_they_had(value: str, expected: str) -> None:
    assert doc_id(value) == expected  # promotions stored before stay found


def test_attribution_stores_and_finds_every_accepted_id() -> None:
    store = InMemoryDocumentStore()
    touches = [first_touch(a, {"type": "page", "properties": {"url": "/1"}}) for a in HOSTILE]
    assert record_missing(store, touches) == len(HOSTILE)
    assert set(find(store, HOSTILE)) == set(HOSTILE)
    assert find(store, ["never-seen"]) == {}


def test_promotions_store_and_find_every_accepted_id() -> None:
    store = InMemoryDocumentStore()
    state = PromotionState(store, FakeClock())
    new = state.record([Promotion(a, "identified", "2026-01-01T00:00:00Z") for a in HOSTILE])
    assert len(new) == len(HOSTILE)
    fresh = PromotionState(store, FakeClock())  # another instance: read from the store
    assert fresh.promoted([*HOSTILE, "never-seen"]) == set(HOSTILE)
