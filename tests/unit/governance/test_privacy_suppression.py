"""The suppression list: keyed hashes only, normalised identifiers, no store read per event."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import BackendUnavailable
from shared.governance.privacy.suppression import (
    STATE,
    SUPPRESSIONS,
    SuppressionList,
    Suppressions,
)
from shared.identity.identifiers import Identifier
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore

KEY = "test-hash-key"


def suppress(store: InMemoryDocumentStore, *identifiers: Identifier, key: str = KEY) -> None:
    lst = SuppressionList(store, key)
    lst.add(lst.hashes(identifiers), "req-1", "2026-01-01T00:00:00Z")


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "x", "messageId": "m", **fields}


@pytest.mark.parametrize(
    ("suppressed", "incoming", "expected"),
    [
        (Identifier("user_id", "u1"), event(userId="u1"), True),
        (Identifier("user_id", "u1"), event(userId="u2", anonymousId="a"), False),
        (Identifier("anonymous_id", "a1"), event(anonymousId=" a1 "), True),
        (Identifier("email", "ada@b.com"), event(userId="x", traits={"email": "Ada@B.com"}), True),
        (
            Identifier("email", "ada@b.com"),
            event(userId="x", context={"traits": {"email": " ADA@b.com"}}),
            True,
        ),
        (
            Identifier("phone", "+14155550123"),
            event(userId="x", traits={"phone": "(415) 555-0123"}),
            True,
        ),
        (
            Identifier("device_id", "abc-def"),
            event(anonymousId="x", context={"device": {"id": "ABC-DEF"}}),
            True,
        ),
        (
            Identifier("appsflyer_id", "af-1"),
            event(
                anonymousId="x", context={"externalIds": [{"id": "af-1", "type": "appsflyer_id"}]}
            ),
            True,
        ),
        (
            Identifier("anonymous_id", "old"),
            {"type": "alias", "userId": "new", "previousId": "old", "messageId": "m"},
            True,
        ),
    ],
)
def test_every_identifier_of_an_event_is_checked(
    suppressed: Identifier, incoming: dict[str, Any], expected: bool
) -> None:
    store = InMemoryDocumentStore()
    suppress(store, suppressed)
    assert Suppressions(store, FakeClock(), KEY).suppressed(incoming) is expected


def test_the_list_holds_keyed_hashes_only() -> None:
    store = InMemoryDocumentStore()
    suppress(store, Identifier("email", "ada@b.com"))
    ((doc_id, doc),) = store.list(SUPPRESSIONS)
    assert "ada" not in doc_id and "ada" not in str(doc) and len(doc_id) == 64
    other_key = Suppressions(store, FakeClock(), "another-key")
    assert not other_key.suppressed(event(userId="x", traits={"email": "ada@b.com"}))


def test_no_store_read_per_event_and_refresh_at_most_every_period() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    suppress(store, Identifier("user_id", "u1"))
    check = Suppressions(store, clock, KEY, refresh_seconds=30)
    assert check.suppressed(event(userId="u1"))
    reads = store.reads
    for n in range(1000):
        check.suppressed(event(userId=f"other-{n}"))
    assert store.reads == reads  # nothing read within the period
    suppress(store, Identifier("user_id", "u2"))
    assert not check.suppressed(event(userId="u2"))  # not seen before the refresh
    clock.advance(30)
    assert check.suppressed(event(userId="u2"))


def test_an_unchanged_list_costs_one_read_per_refresh() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    suppress(store, *(Identifier("user_id", f"u{n}") for n in range(50)))
    check = Suppressions(store, clock, KEY, refresh_seconds=1)
    check.suppressed(event(userId="u1"))
    reads = store.reads
    clock.advance(1)
    check.suppressed(event(userId="u1"))
    assert store.reads == reads + 1  # the version document only


def test_removal_takes_effect_at_the_next_refresh() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    lst = SuppressionList(store, KEY)
    hashes = lst.hashes([Identifier("user_id", "u1")])
    lst.add(hashes, "req-1", "t")
    check = Suppressions(store, clock, KEY, refresh_seconds=5)
    assert check.suppressed(event(userId="u1"))
    lst.remove(list(hashes), "t2")
    clock.advance(5)
    assert not check.suppressed(event(userId="u1"))
    assert store.get(STATE, "current") == {"version": 2, "at": "t2"}


class DownStore(InMemoryDocumentStore):
    down = False

    def get_all(self, refs: Any) -> Any:
        if self.down:
            raise BackendUnavailable("Firestore read: down")
        return super().get_all(refs)


def test_a_failed_refresh_keeps_the_list_but_a_first_load_must_succeed() -> None:
    store, clock = DownStore(), FakeClock()
    suppress(store, Identifier("user_id", "u1"))
    check = Suppressions(store, clock, KEY, refresh_seconds=5)
    assert check.suppressed(event(userId="u1"))
    store.down = True
    clock.advance(5)
    assert check.suppressed(event(userId="u1"))
    with pytest.raises(BackendUnavailable):
        Suppressions(store, clock, KEY).suppressed(event(userId="u1"))
