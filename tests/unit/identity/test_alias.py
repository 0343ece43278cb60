"""``alias(previousId, userId)``: the previous id is an anonymous id of the same person,
whatever order the events arrive in; a previous id that is some profile's userId is a second
userId, refused and recorded. Evidence, explain and unmerge cover alias links."""

from __future__ import annotations

from typing import Any

import pytest

from shared.identity.config import IdentityConfig, TypeRule
from shared.identity.evidence import explain
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.unmerge import Unmerger
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import USER, clusters, journey


def alias(message_id: str, previous: str, user: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "alias",
        "messageId": message_id,
        "previousId": previous,
        "userId": user,
        "timestamp": "2026-03-03T10:00:00.000Z",
        **fields,
    }


def seeds_journey_with_alias() -> list[dict[str, Any]]:
    """The seeds' journey, signing up with alias instead of an identify that carries both ids:
    the sign-up knows only the userId, the alias joins the desktop's anonymous id to it."""
    events = journey()
    signup = events[3]
    events[3] = {k: v for k, v in signup.items() if k != "anonymousId"}
    events.insert(3, alias("m4-alias", "aaa-aaa-aaa", USER[1], sourceId="web"))
    return events


@pytest.mark.parametrize("order", ["as sent", "reversed"])
def test_the_seeds_journey_with_alias_is_one_person(order: str) -> None:
    events = seeds_journey_with_alias()
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    for event in events if order == "as sent" else events[::-1]:
        repo.record(event)
    profile = repo.find(USER)
    assert profile is not None
    assert profile["identifiers"]["anonymous_id"] == ["aaa-aaa-aaa", "bbb-bbb-bbb"]
    assert len(clusters(store)) == 1
    assert profile["first_touch"]["campaign"]["name"] == "spring"  # the anonymous first visit
    path = explain(profile, Identifier(*USER))["paths"]["anonymous_id:aaa-aaa-aaa"]
    assert [step["evidence"] for step in path] == ["m4-alias"]


def test_an_alias_joins_two_existing_profiles_and_unmerge_undoes_it() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record({"type": "page", "messageId": "m1", "anonymousId": "a1", "traits": {}})
    repo.record({"type": "identify", "messageId": "m2", "userId": "u1"})
    outcome = repo.record(alias("m3", "a1", "u1"))
    assert outcome is not None and [c.change for c in outcome.changes] == ["merged"]
    assert clusters(store) == {frozenset({"user_id:u1", "anonymous_id:a1"})}
    assert repo.record(alias("m3", "a1", "u1")) == outcome  # redelivered: the same changes
    Unmerger(store, repo.config).unmerge(Identifier("user_id", "u1"), "m3", "2027")
    assert clusters(store) == {frozenset({"user_id:u1"}), frozenset({"anonymous_id:a1"})}


def test_a_previous_id_that_is_a_users_id_is_a_conflict_recorded_not_a_merge() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record({"type": "identify", "messageId": "m1", "userId": "crm-42", "traits": {}})
    repo.record({"type": "identify", "messageId": "m2", "userId": "u-new", "anonymousId": "a9"})
    repo.record(alias("m3", "crm-42", "u-new", anonymousId="a9"))
    assert clusters(store) == {
        frozenset({"user_id:crm-42"}),
        frozenset({"user_id:u-new", "anonymous_id:a9"}),  # no anonymous_id:crm-42 invented
    }
    [conflict] = repo.find(("user_id", "u-new"))["conflicts"]  # type: ignore[index]
    assert conflict["identifier"] == "user_id:crm-42" and conflict["type"] == "user_id"


def test_an_alias_chain_is_refused_at_one_userid_and_joins_where_the_rules_allow_more() -> None:
    chain = [
        {"type": "page", "messageId": "m0", "anonymousId": "A"},
        alias("m1", "A", "B"),
        alias("m2", "B", "C"),
    ]
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    for event in chain:
        repo.record(event)
    assert clusters(store) == {frozenset({"anonymous_id:A", "user_id:B"}), frozenset({"user_id:C"})}
    assert repo.find(("user_id", "C"))["conflicts"][0]["identifier"] == "user_id:B"  # type: ignore[index]

    store = InMemoryDocumentStore()
    repo = ProfileRepository(store, IdentityConfig(types={"user_id": TypeRule(limit=2)}))
    for event in chain:
        repo.record(event)
    assert clusters(store) == {frozenset({"anonymous_id:A", "user_id:B", "user_id:C"})}


@pytest.mark.parametrize("previous", ["", "null", "anonymous", "0", None, 12])
def test_a_blocked_or_odd_previous_id_links_nothing(previous: object) -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    repo.record(alias("m1", previous, "u1"))  # type: ignore[arg-type]
    repo.record(alias("m2", previous, "u2"))  # type: ignore[arg-type]
    found = clusters(store)
    assert {"user_id:u1"} <= set().union(*found) and len(found) >= 2
    assert all(sum(k.startswith("user_id:") for k in c) <= 1 for c in found)


def test_changes_at_the_same_event_time_are_ordered_by_when_identity_decided_them() -> None:
    """A page and the alias of the sign-up in the same millisecond (the SDKs do this): the
    page's ``created`` is decided before the alias's ``merged``, and the warehouse orders the
    two by ``decided_at`` (their event times are equal); a redelivery republishes the same."""
    repo, at = ProfileRepository(InMemoryDocumentStore()), "2026-03-03T10:00:00.000Z"
    signup = {"type": "identify", "messageId": "m-user", "userId": "u-1", "timestamp": at}
    page = {"type": "page", "messageId": "m-page", "anonymousId": "anon-1", "timestamp": at}
    for event in (signup, page):
        repo.record(event)
    linked = repo.record(alias("m-alias", "anon-1", "u-1", timestamp=at))
    assert linked is not None
    merged = [c for c in linked.changes if c.change == "merged"]
    made = repo.find(Identifier("anonymous_id", "anon-1"))
    assert made is not None
    decided = {e["message_id"]: e["decided_at"] for e in made["evidence"]}
    assert decided["m-page"] < decided["m-alias"]
    assert [c.decided_at for c in merged] == [decided["m-alias"]]
    redelivered = repo.record(alias("m-alias", "anon-1", "u-1", timestamp=at))
    assert redelivered is not None
    assert [c.decided_at for c in redelivered.changes] == [c.decided_at for c in linked.changes]
