"""The identity graph on the document store fake: the seeds' journey, traits by event time,
idempotent redelivery, recorded conflicts, forwarding pointers, and writers that collide."""

from __future__ import annotations

import copy
from typing import Any

from shared.identity.graph import IDENTIFIERS, PROFILES
from shared.identity.identifiers import Identifier
from shared.identity.profiles import Outcome, ProfileRepository
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import USER, clusters, journey


def ev(message_id: str, at: str = "2026-01-01T00:00:00.000Z", **fields: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "timestamp": at, **fields}


def test_the_seeds_journey_is_one_person_with_two_devices() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    kinds = []
    for event in journey():
        outcome = repo.record(event)
        assert outcome is not None
        kinds.append([c.change for c in outcome.changes])
    assert kinds == [["created"], ["linked"], ["created"], ["linked"], ["merged"], []]
    profile = repo.find(USER)
    assert profile is not None
    assert profile["identifiers"] == {
        "anonymous_id": ["aaa-aaa-aaa", "bbb-bbb-bbb"],
        "email": ["fernando@example.com"],
        "user_id": ["97980cfea0067"],
    }
    assert clusters(store) == {
        frozenset(f"{k}:{v}" for k, vs in profile["identifiers"].items() for v in vs)
    }
    assert profile["traits"]["plan"] == {
        "value": "pro",
        "at": "2026-03-05T07:45:00.000Z",
        "source": "ios",
        "message_id": "m5-mobile-login",
        "by": "user_id:97980cfea0067",
    }
    assert (profile["first_seen"], profile["last_seen"]) == (
        "2026-03-01T09:00:00.000Z",
        "2026-03-06T12:00:00.000Z",
    )
    assert profile["consent"]["advertising"]["value"] is True  # granted later, on mobile
    assert profile["consent"]["analytics"]["value"] is True
    assert profile["first_touch"]["campaign"] == {"name": "spring", "source": "news"}
    assert [e["id"] for e in profile["evidence"]] == [
        "m1-desktop-visit",
        "m2-newsletter",
        "m4-signup",
        "m3-mobile-install",  # came with the absorbed mobile profile
        "m5-mobile-login",
    ]


def change_ids(outcomes: list[Outcome | None]) -> list[str]:
    return [c.change_id for o in outcomes if o for c in o.changes]


def test_redelivery_changes_nothing_and_republishes_the_same_change_ids() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    first = [repo.record(e) for e in journey()]
    snapshot = copy.deepcopy((store.list(PROFILES), store.list(IDENTIFIERS)))
    writes = store.writes
    for replica in (repo, ProfileRepository(store)):  # this instance, and one with a cold cache
        again = [replica.record(e) for e in journey()]
        assert change_ids(again) == change_ids(first)
        assert {o.profile_id for o in again if o} == {first[-1].profile_id}  # type: ignore[union-attr]
    assert (store.list(PROFILES), store.list(IDENTIFIERS)) == snapshot
    assert store.writes == writes


def test_latest_trait_wins_by_event_time_not_arrival() -> None:
    repo = ProfileRepository(InMemoryDocumentStore())
    repo.record(ev("m2", "2026-01-02T00:00:00Z", userId="u", traits={"plan": "new"}))
    repo.record(ev("m1", "2026-01-01T00:00:00+00:00", userId="u", traits={"plan": "old"}))
    profile = repo.find(("user_id", "u"))
    assert profile is not None and profile["traits"]["plan"]["value"] == "new"
    assert profile["first_seen"] == "2026-01-01T00:00:00.000Z"


def test_two_identified_people_are_never_merged_the_conflict_is_recorded() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(ev("m1", userId="u1", anonymousId="a1"))
    repo.record(ev("m2", userId="u2", traits={"email": "two@x.io"}))
    outcome = repo.record(ev("m3", userId="u1", traits={"email": "two@x.io"}))
    assert outcome is not None and outcome.changes == []
    assert len(clusters(store)) == 2
    first = repo.find(("user_id", "u1"))
    assert first is not None
    [conflict] = first["conflicts"]
    assert conflict["identifier"] == "email:two@x.io" and conflict["type"] == "user_id"
    repo.record(ev("m3", userId="u1", traits={"email": "two@x.io"}))  # redelivered: once
    assert len(repo.find(("user_id", "u1"))["conflicts"]) == 1  # type: ignore[index]


def test_a_merge_leaves_a_forwarding_pointer_and_reads_compact_it() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    small = repo.record(ev("m1", anonymousId="a1"))
    big = repo.record(ev("m2", userId="u1", anonymousId="a0"))
    assert small and big
    repo.record(ev("m3", userId="u1", anonymousId="a1"))
    assert store.get(PROFILES, small.profile_id)["merged_into"] == big.profile_id  # type: ignore[index]
    # a1's document was compacted by the merge event itself; another of the absorbed
    # profile's identifiers would be compacted when an event passes through it.
    assert store.get(IDENTIFIERS, "anonymous_id:a1")["profile_id"] == big.profile_id  # type: ignore[index]
    assert repo.find(("anonymous_id", "a1"))["profile_id"] == big.profile_id  # type: ignore[index]


def test_identifiers_left_behind_on_an_absorbed_profile_resolve_through_the_pointer() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    anon = repo.record(ev("m1", anonymousId="a1", traits={"email": "x@y.io"}))
    user = repo.record(ev("m2", userId="u1"))
    assert anon and user
    repo.record(ev("m3", userId="u1", anonymousId="a1"))
    # email:x@y.io still points at the absorbed profile...
    assert store.get(IDENTIFIERS, "email:x%40y.io")["profile_id"] == anon.profile_id  # type: ignore[index]
    assert repo.find(Identifier("email", "x@y.io"))["profile_id"] == user.profile_id  # type: ignore[index]
    # ...until an event passes through it.
    repo.record(ev("m4", traits={"email": "x@y.io"}, anonymousId="a1"))
    assert store.get(IDENTIFIERS, "email:x%40y.io")["profile_id"] == user.profile_id  # type: ignore[index]


def test_a_concurrent_writer_makes_the_transaction_retry_not_split() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    # Another instance creates the profile of u1 between our reads and our commit.
    store.before_commit = lambda: ProfileRepository(store).record(
        ev("other", userId="u1", traits={"a": 1})
    )
    outcome = repo.record(ev("ours", userId="u1", anonymousId="a1", traits={"b": 2}))
    assert store.conflicts == 1 and outcome is not None
    [(pid, profile)] = store.list(PROFILES)
    assert pid == outcome.profile_id and set(profile["traits"]) == {"a", "b"}
    assert profile["identifiers"] == {"anonymous_id": ["a1"], "user_id": ["u1"]}


def test_a_merge_racing_a_known_user_event_loses_nothing() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(ev("m1", userId="u1"))
    repo.record(ev("m2", anonymousId="a1"))
    store.before_commit = lambda: ProfileRepository(store).record(
        ev("m3", userId="u1", anonymousId="a1")
    )
    repo.record(ev("m4", "2026-02-01T00:00:00Z", anonymousId="a1", traits={"late": True}))
    assert clusters(store) == {frozenset({"user_id:u1", "anonymous_id:a1"})}
    profile = repo.find(("anonymous_id", "a1"))
    assert profile is not None and profile["traits"]["late"]["value"] is True


def test_events_without_identifiers_are_skipped() -> None:
    store = InMemoryDocumentStore()
    assert ProfileRepository(store).record(ev("m1", userId="null", anonymousId="0")) is None
    assert store.writes == 0


def test_a_chain_of_merges_is_compacted_when_an_event_passes_through_it() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    device = {"context": {"device": {"id": "d1"}}}
    a = repo.record(ev("m1", anonymousId="a1", **device))
    repo.record(ev("m2", userId="u1"))
    repo.record(ev("m3", userId="u1", anonymousId="a1"))  # A → B
    c = repo.record(ev("m4", anonymousId="c1", traits={"email": "e@x.io"}))
    repo.record(ev("m5", anonymousId="a1", traits={"email": "e@x.io"}))  # B → C: email ranks first
    assert a and c
    assert store.get(IDENTIFIERS, "device_id:d1")["profile_id"] == a.profile_id  # type: ignore[index]
    writes = store.writes
    outcome = ProfileRepository(store).record(ev("m6", **device))  # cold cache: d1 → A → B → C
    assert outcome is not None and outcome.profile_id == c.profile_id
    assert store.get(IDENTIFIERS, "device_id:d1")["profile_id"] == c.profile_id  # type: ignore[index]
    assert store.get(PROFILES, a.profile_id)["merged_into"] == c.profile_id  # type: ignore[index]
    assert store.writes - writes == 2  # d1 and A now point at C; the profile is unchanged


def test_a_message_shares_one_transaction_per_known_person_and_links_the_rest() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(ev("m1", userId="u1", anonymousId="a1"))
    message = [
        ev("m2", "2026-01-02T00:00:00Z", userId="u1", traits={"plan": "pro"}),
        ev("m3", "2026-01-03T00:00:00Z", userId="u1", anonymousId="a2"),  # a new device
        ev("m4", "2026-01-04T00:00:00Z", anonymousId="a1", traits={"plan": "max"}),
    ]
    writes = store.writes
    outcomes = repo.record_all(message)
    assert [o.identifiers[-1].value for o in outcomes] == ["a2", "u1", "a1"]  # known ones last
    assert store.writes - writes == 3  # profile once for m2+m4; profile and a2 for m3
    profile = repo.find(("anonymous_id", "a2"))
    assert profile is not None and profile["traits"]["plan"]["value"] == "max"
    assert profile["identifiers"]["anonymous_id"] == ["a1", "a2"]
