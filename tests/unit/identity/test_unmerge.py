"""Unmerge: a wrong link is removed, the people are recomputed from the remaining evidence,
and replaying the same evidence joins them again."""

from __future__ import annotations

import pytest

from shared.errors import NotFound
from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.unmerge import Unmerger, replay
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import USER, clusters, journey

AT = "2026-04-01T00:00:00.000Z"
MOBILE = frozenset({"anonymous_id:bbb-bbb-bbb"})


def journeyed() -> tuple[InMemoryDocumentStore, ProfileRepository]:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    for event in journey():
        repo.record(event)
    return store, repo


def test_unmerging_the_mobile_login_splits_the_mobile_device_off() -> None:
    store, repo = journeyed()
    before = repo.find(USER)
    assert before is not None
    change = Unmerger(store, repo.config).unmerge(Identifier(*USER), "m5-mobile-login", AT)
    assert clusters(store) == {
        frozenset(
            {"anonymous_id:aaa-aaa-aaa", "email:fernando@example.com", USER[0] + ":" + USER[1]}
        ),
        MOBILE,
    }
    mobile = repo.find(("anonymous_id", "bbb-bbb-bbb"))
    user = repo.find(USER)
    assert mobile is not None and user is not None
    assert user["profile_id"] == before["profile_id"]  # the part with the userId keeps the id
    assert change.change == "unmerged" and change.profile_id == before["profile_id"]
    assert [(a.type, a.value, a.profile_id) for a in change.assignments] == [
        ("anonymous_id", "bbb-bbb-bbb", mobile["profile_id"])
    ]
    assert [e["id"] for e in mobile["evidence"]] == ["m3-mobile-install"]
    # The mobile login's traits were set by the userId, so they stay with the user.
    assert user["traits"]["plan"]["value"] == "pro" and "plan" not in mobile["traits"]
    assert user["unmerged"][0]["evidence"] == "m5-mobile-login"


def test_replaying_the_same_evidence_joins_them_again_with_a_new_change_id() -> None:
    store, repo = journeyed()
    merged = repo.record(journey()[4])  # redelivered before the unmerge: same change id
    Unmerger(store, repo.config).unmerge(Identifier(*USER), "m5-mobile-login", AT)
    again = repo.record(journey()[4])
    assert merged is not None and again is not None
    assert len(clusters(store)) == 1
    assert [c.change for c in again.changes] == ["merged"]
    assert again.changes[0].change_id not in {c.change_id for c in merged.changes}


def test_unmerging_a_link_keeps_what_other_evidence_still_joins() -> None:
    store, repo = journeyed()
    # Without the newsletter link, the email still joins the user through the signup.
    Unmerger(store, repo.config).unmerge(Identifier(*USER), "m2-newsletter", AT)
    assert len(clusters(store)) == 1


def test_unknown_evidence_or_identifier_is_named() -> None:
    store, repo = journeyed()
    unmerger = Unmerger(store, repo.config)
    with pytest.raises(NotFound, match="no evidence nope"):
        unmerger.unmerge(Identifier(*USER), "nope", AT)
    with pytest.raises(NotFound, match=r"no profile holds email:x@y\.z"):
        unmerger.unmerge(Identifier("email", "x@y.z"), "m1-desktop-visit", AT)


def test_replay_is_the_merge_rule_over_the_evidence() -> None:
    entries = [
        {"id": "2", "at": "2", "identifiers": ["user_id:u2", "anonymous_id:a"]},
        {"id": "1", "at": "1", "identifiers": ["user_id:u1", "anonymous_id:a"]},
    ]
    everyone = {Identifier.parse(k) for k in ("user_id:u1", "user_id:u2", "anonymous_id:a")}
    parts = replay(entries, everyone, IdentityConfig())
    # The earlier evidence wins the anonymous id; the later one cannot give it a second userId.
    assert [sorted(i.key for i in p.identifiers) for p in parts] == [
        ["anonymous_id:a", "user_id:u1"],
        ["user_id:u2"],
    ]
