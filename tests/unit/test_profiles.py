"""Profiles: traits by event time, idempotent replays, no forced merges."""

from __future__ import annotations

from typing import Any

import pytest

from shared.identity.profiles import (
    IDENTIFIERS,
    PROFILES,
    ProfileRepository,
    apply_event,
    identifier_doc_id,
    identifiers_of,
)
from shared.ports.documents import InMemoryDocumentStore


def ev(**fields: Any) -> dict[str, Any]:
    return {"type": "identify", "timestamp": "2026-01-01T00:00:00.000Z", **fields}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ev(userId="u1"), [("user_id", "u1")]),
        (ev(anonymousId="a1"), [("anonymous_id", "a1")]),
        (ev(userId="u1", anonymousId="a1"), [("user_id", "u1"), ("anonymous_id", "a1")]),
        (ev(userId="", anonymousId=None), []),
        (ev(userId=42), [("user_id", "42")]),
    ],
)
def test_identifiers_of(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert identifiers_of(event) == expected


def test_identifier_doc_ids_never_contain_a_slash() -> None:
    assert "/" not in identifier_doc_id(("user_id", "a/b//c"))


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        ("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "new"),
        ("2026-01-02T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "old"),  # late arrival loses
    ],
)
def test_latest_trait_wins_by_event_time_not_arrival(first: str, second: str, winner: str) -> None:
    p = apply_event({}, ev(timestamp=first, traits={"plan": "old"}), [("user_id", "u")])
    p = apply_event(p, ev(timestamp=second, traits={"plan": "new"}), [])
    assert p["traits"]["plan"]["value"] == winner
    assert p["first_seen"] == min(first, second) and p["last_seen"] == max(first, second)


def test_context_traits_count_for_every_call_type() -> None:
    p = apply_event({}, {"type": "track", "context": {"traits": {"email": "x@y.z"}}}, [])
    assert p["traits"]["email"]["value"] == "x@y.z"


def test_replaying_an_event_changes_nothing() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    event = ev(userId="u1", anonymousId="a1", traits={"plan": "pro"}, sourceId="web")
    pid = repo.record(event)
    before = store.list(PROFILES), store.list(IDENTIFIERS)
    writes = store.writes
    assert repo.record(event) == pid
    assert (store.list(PROFILES), store.list(IDENTIFIERS)) == before
    assert store.writes == writes  # nothing rewritten either


def test_anonymous_then_identified_is_one_profile() -> None:
    repo = ProfileRepository(InMemoryDocumentStore())
    a = repo.record(ev(type="page", anonymousId="a1"))
    b = repo.record(ev(userId="u1", anonymousId="a1"))
    assert a == b
    profile = repo.find(("user_id", "u1"))
    assert profile and profile["identifiers"] == {"anonymous_id": ["a1"], "user_id": ["u1"]}


def test_two_profiles_are_never_merged_here_the_conflict_is_recorded() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    first = repo.record(ev(userId="u1"))
    second = repo.record(ev(anonymousId="a2"))
    assert repo.record(ev(userId="u1", anonymousId="a2")) == first
    profile = repo.find(("user_id", "u1"))
    assert profile and profile["conflicts"] == [second]
    assert repo.find(("anonymous_id", "a2"))["profile_id"] == second  # type: ignore[index]


def test_a_concurrent_writer_makes_the_transaction_retry_not_split() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    # Another instance creates the profile for u1 between our read and our commit.
    store.before_commit = lambda: ProfileRepository(store).record(ev(userId="u1", traits={"a": 1}))
    pid = repo.record(ev(userId="u1", traits={"b": 2}))
    assert store.conflicts == 1
    assert [doc_id for doc_id, _ in store.list(PROFILES)] == [pid]
    assert set(store.list(PROFILES)[0][1]["traits"]) == {"a", "b"}
