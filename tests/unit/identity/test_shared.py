"""A shared device: once two userIds each claimed it, it belongs to neither, and links no one
from then on, whatever the order."""

from __future__ import annotations

from typing import Any

from shared.identity.evidence import explain, render
from shared.identity.graph import IDENTIFIERS
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.shared import contested
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import clusters

TABLET = {"anonymousId": "tab", "context": {"device": {"id": "TAB-1"}}}


def ev(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "x", "messageId": message_id, **fields}


def test_two_users_on_one_tablet_leave_it_to_neither() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(ev("m1", **TABLET))  # browsing before anyone signs in
    repo.record(ev("m2", userId="ana", **TABLET))
    repo.record(ev("m3", userId="ana", anonymousId="ana-phone"))
    outcome = repo.record(ev("m4", userId="ben", **TABLET))
    assert outcome is not None
    assert [c.change for c in outcome.changes] == ["unmerged", "created"]
    moved = {a.value for a in outcome.changes[0].assignments}
    assert moved == {"tab", "tab-1"}
    assert clusters(store) == {
        frozenset({"user_id:ana", "anonymous_id:ana-phone"}),
        frozenset({"user_id:ben"}),
        frozenset({"anonymous_id:tab"}),
        frozenset({"device_id:tab-1"}),
    }
    link = store.get(IDENTIFIERS, "anonymous_id:tab")
    assert link is not None and link["shared"] and link["claimed_by"] == ["ana", "ben"]
    ana = repo.find(("user_id", "ana"))
    assert ana is not None
    lines = render(explain(ana, Identifier("user_id", "ana")))
    assert any("shared:" in line and "anonymous_id:tab" in line for line in lines)

    # From now on the tablet links no one: not a third user, not a returning one.
    writes = store.writes
    repo.record(ev("m5", userId="cy", **TABLET))
    repo.record(ev("m6", userId="ana", **TABLET))
    repo.record(ev("m7", **TABLET))  # anonymous again: the tablet's own profile
    assert frozenset({"user_id:cy"}) in clusters(store)
    assert len(clusters(store)) == 5 and store.writes - writes <= 6


def test_the_revealing_event_redelivered_republishes_the_same_change() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(ev("m1", userId="ana", **TABLET))
    first = repo.record(ev("m2", userId="ben", **TABLET))
    before = clusters(store)
    for instance in (repo, ProfileRepository(store)):
        again = instance.record(ev("m2", userId="ben", **TABLET))
        assert again is not None and first is not None
        assert {c.change_id for c in first.changes} <= {c.change_id for c in again.changes}
    assert clusters(store) == before


def test_one_event_with_two_userids_makes_its_device_shared_at_once() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    externals = [{"type": "user_id", "id": "ben"}]
    repo.record(ev("m1", userId="ana", anonymousId="tab", context={"externalIds": externals}))
    repo.record(ev("m2", userId="ana", anonymousId="ana-phone"))
    assert frozenset({"anonymous_id:tab"}) in clusters(store)
    assert frozenset({"user_id:ana", "anonymous_id:ana-phone"}) in clusters(store)


def i(key: str) -> Identifier:
    return Identifier.parse(key)


def test_contested_decisions() -> None:
    claimed = {"p1": {"identifiers": {"user_id": ["ana"]}, "claimed": ["anonymous_id:tab"]}}
    unclaimed = {"p1": {"identifiers": {"user_id": ["ana"]}}}
    anonymous = {"p1": {"identifiers": {"anonymous_id": ["tab"]}, "claimed": []}}
    tab, email = i("anonymous_id:tab"), i("email:a@b.co")
    cases = [
        # event identifiers, owners, profiles, expected
        ([i("user_id:ben"), tab], {tab: "p1"}, claimed, [tab]),
        ([i("user_id:ana"), tab], {tab: "p1"}, claimed, []),  # the same user again
        ([i("user_id:ben"), tab], {tab: "p1"}, unclaimed, []),  # linked, never claimed: a conflict
        ([i("user_id:ben"), tab], {tab: "p1"}, anonymous, []),  # no user yet: a plain link
        ([tab], {tab: "p1"}, claimed, []),  # no userId: claims nothing
        ([i("user_id:ana"), i("user_id:ben"), tab, email], {}, {}, [tab]),  # never an email
        ([i("user_id:ben"), email], {email: "p1"}, claimed, []),
    ]
    config = ProfileRepository(InMemoryDocumentStore()).config
    for identifiers, owners, docs, want in cases:
        assert contested(identifiers, owners, docs, config) == want, identifiers  # type: ignore[arg-type]
