"""Profile writes: only changed profiles, only the two fields, at the root, in transactions."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from shared.audiences.memberships import Person
from shared.audiences.profiles import (
    AUDIENCES,
    CAPACITY,
    COMMIT_BYTES,
    DOC_BYTES,
    DOC_FIELDS,
    EMPTY,
    ENTRY_BYTES,
    FINGERPRINTS,
    SHARDS,
    TRAITS,
    WRITE_BYTES,
    Fields,
    ProfileSync,
    combined,
    commits,
    fields_of,
    fingerprint,
    merged_roots,
    request_bytes,
    shard_bytes,
    shard_of,
)
from shared.identity.graph import PROFILES
from shared.identity.records import forwarding
from shared.ports.documents import InMemoryDocumentStore, Transaction

T = TypeVar("T")

AT = datetime(2026, 1, 8, 12, tzinfo=UTC)


def profile(pid: str, **extra: object) -> dict[str, object]:
    return {"profile_id": pid, "identifiers": {"user_id": [f"u-{pid}"]}, "traits": {}, **extra}


def store(*pids: str) -> InMemoryDocumentStore:
    documents = InMemoryDocumentStore()
    for pid in pids:
        documents.set(PROFILES, pid, profile(pid))
    documents.reads = documents.writes = 0
    return documents


def fields(volume: float, *audiences: str) -> Fields:
    person = Person("x", traits={"volume": volume})
    return fields_of(person, dict.fromkeys(audiences, AT))


def test_fields_of_a_person() -> None:
    person = Person("p1", traits={"b": 2, "a": [1]})
    assert fields_of(person, {"churn_risk": AT}) == {
        TRAITS: {"a": [1], "b": 2},
        AUDIENCES: {"churn_risk": {"entered_at": "2026-01-08T12:00:00.000Z"}},
    }
    assert fields_of(None, {}) == EMPTY


def test_fingerprints_and_shards_are_stable() -> None:
    assert fingerprint(fields(1.0, "a")) == fingerprint(fields(1.0, "a"))
    assert fingerprint(fields(1.0, "a")) != fingerprint(fields(1.5, "a"))
    assert fingerprint(fields(1.0, "a")) != fingerprint(fields(1.0))
    assert shard_of("p1") == shard_of("p1")
    assert {shard_of(f"p{n}") for n in range(2000)} == {f"{n:02d}" for n in range(SHARDS)}


def test_only_the_two_fields_are_replaced_and_the_rest_of_the_profile_stays() -> None:
    documents = store("p1")
    documents.set(PROFILES, "p1", profile("p1", consent={"ads": {"value": True}}))
    assert ProfileSync(documents).sync({"p1": fields(10.0, "a")}) == 1
    assert documents.get(PROFILES, "p1") == {
        **profile("p1", consent={"ads": {"value": True}}),
        **fields(10.0, "a"),
    }


def test_a_second_sync_with_nothing_changed_reads_the_shards_and_writes_nothing() -> None:
    documents = store("p1", "p2")
    desired = {"p1": fields(10.0, "a"), "p2": fields(3.0)}
    first = ProfileSync(documents)
    assert first.sync(desired) == 2
    documents.reads = documents.writes = 0
    again = ProfileSync(documents)
    assert again.sync(desired) == 0
    assert (documents.reads, documents.writes) == (SHARDS, 0)
    assert (again.reads, again.writes) == (SHARDS, 0)


def test_only_the_changed_profile_is_read_and_written() -> None:
    documents = store("p1", "p2", "p3")
    ProfileSync(documents).sync({p: fields(1.0) for p in ("p1", "p2", "p3")})
    documents.reads = documents.writes = 0
    sync = ProfileSync(documents)
    assert sync.sync({"p1": fields(1.0), "p2": fields(2.0, "a"), "p3": fields(1.0)}) == 1
    assert documents.get(PROFILES, "p2") == {**profile("p2"), **fields(2.0, "a")}
    # 64 shards, one profile; one profile and the one shard holding p2
    assert (sync.reads, sync.writes) == (SHARDS + 1, 2)


def test_a_profile_already_holding_the_values_is_not_written() -> None:
    documents = store("p1")
    documents.set(PROFILES, "p1", {**profile("p1"), **fields(5.0, "a")})
    documents.writes = 0
    assert ProfileSync(documents).sync({"p1": fields(5.0, "a")}) == 0
    assert documents.list(FINGERPRINTS, limit=100)  # remembered now, so not read next time


def test_a_forwarded_profile_is_written_at_its_root() -> None:
    documents = store("root")
    documents.set(PROFILES, "old", forwarding("old", "root", "2026-01-01T00:00:00.000Z", "m1"))
    assert ProfileSync(documents).sync({"old": fields(7.0, "a")}) == 1
    assert documents.get(PROFILES, "root") == {**profile("root"), **fields(7.0, "a")}
    assert TRAITS not in (documents.get(PROFILES, "old") or {})


def test_two_rows_resolving_to_one_root_are_combined() -> None:
    documents = store("root")
    documents.set(PROFILES, "old", forwarding("old", "root", "2026-01-01T00:00:00.000Z", "m1"))
    early = fields_of(Person("old", traits={"v": 1}), {"a": datetime(2026, 1, 1, tzinfo=UTC)})
    late = fields_of(Person("root", traits={"v": 2}), {"a": AT, "b": AT})
    assert ProfileSync(documents).sync({"old": early, "root": late}) == 1
    doc = documents.get(PROFILES, "root") or {}
    assert doc[TRAITS] == {"v": 2}
    assert doc[AUDIENCES] == {"a": early[AUDIENCES]["a"], "b": late[AUDIENCES]["b"]}
    assert combined(["a1", "a2"], {"a1": early, "a2": late}, "r")[TRAITS] == {"v": 1}


def test_profiles_gone_from_the_run_are_emptied_merged_ones_left_to_their_root() -> None:
    documents = store("p1", "p2", "root")
    ProfileSync(documents).sync({p: fields(1.0, "a") for p in ("p1", "p2", "root")})
    documents.set(PROFILES, "p2", forwarding("p2", "root", "2026-01-02T00:00:00.000Z", "m2"))
    sync = ProfileSync(documents)
    assert sync.sync({"root": fields(1.0, "a")}, gone=["p1", "p2", "missing"]) == 1
    assert documents.get(PROFILES, "p1") == {**profile("p1"), **EMPTY}
    assert (documents.get(PROFILES, "root") or {})[TRAITS] == {"volume": 1.0}
    assert set(sync.fingerprints()) == {"root"}  # the gone ones no longer remembered


def test_a_profile_without_a_document_is_not_created() -> None:
    documents = store()
    assert ProfileSync(documents).sync({"deleted": fields(1.0, "a")}) == 0
    assert documents.get(PROFILES, "deleted") is None


def test_a_concurrent_write_to_the_profile_is_kept() -> None:
    documents = store("p1")

    def identity_writes() -> None:
        documents.set(PROFILES, "p1", profile("p1", last_seen="2026-01-08T11:59:00.000Z"))

    documents.before_commit = identity_writes
    assert ProfileSync(documents).sync({"p1": fields(9.0, "a")}) == 1
    assert documents.conflicts == 1
    doc = documents.get(PROFILES, "p1") or {}
    assert doc["last_seen"] == "2026-01-08T11:59:00.000Z" and doc[TRAITS] == {"volume": 9.0}


def test_many_changed_profiles_go_in_batches() -> None:
    pids = [f"p{n:04d}" for n in range(450)]
    documents = store(*pids)
    sync = ProfileSync(documents)
    assert sync.sync({p: fields(float(n)) for n, p in enumerate(pids)}) == 450
    assert sync.reads == SHARDS + 450


def test_merged_roots_follow_pointers_and_find_an_anonymous_id() -> None:
    documents = store("root")
    documents.set(PROFILES, "a", forwarding("a", "b", "2026-01-01T00:00:00.000Z", "m1"))
    documents.set(PROFILES, "b", forwarding("b", "root", "2026-01-02T00:00:00.000Z", "m2"))
    documents.set(PROFILES, "anon", {"profile_id": "anon",
                                     "identifiers": {"anonymous_id": ["d2", "d1"]}})  # fmt: skip
    merged, anonymous, reads = merged_roots(documents, ["a", "anon", "root", "nothing"])
    assert merged == {"a": "root"}
    assert anonymous == {"anon": "d1"}
    assert reads == 5  # the four asked for, then b (root was among the four)


def test_a_profile_written_before_and_absent_now_is_emptied_once() -> None:
    documents = store("p1", "p2")
    ProfileSync(documents).sync({"p1": fields(3.0), "p2": fields(4.0)})
    assert ProfileSync(documents).sync({"p2": fields(4.0)}) == 1  # p1: no events left
    assert documents.get(PROFILES, "p1") == {**profile("p1"), **EMPTY}
    assert ProfileSync(documents).sync({"p2": fields(4.0)}) == 0


def full_shard(n: int) -> dict[str, str]:
    """``n`` entries the size a run writes: UUID profile ids, 16 hex digits each."""
    assert len(str(uuid.uuid4())) == 36 and len(fingerprint(fields(1.0))) == 16
    return {f"{i:08x}-0000-4000-8000-000000000000": f"{i:016x}" for i in range(n)}


def test_the_shards_hold_the_capacity_within_firestores_document_limits() -> None:
    mean = CAPACITY / SHARDS
    biggest = math.ceil(mean + 6 * math.sqrt(mean))  # hashing spreads ids binomially
    shard = full_shard(biggest)
    assert shard_bytes("63", shard) < DOC_BYTES
    assert len(shard) + 1 < DOC_FIELDS  # the entries and the map holding them
    assert 2 * (len(shard) + 1) < 40_000  # index entries (ascending and descending)
    # all the shards full are far past one request, each commit is not
    weight = request_bytes(shard)
    assert shard_bytes("63", shard) <= weight
    weights = {f"{n:02d}": weight for n in range(SHARDS)}
    assert sum(weights.values()) > 10 * 1_048_576
    groups = commits(weights)
    assert [s for g in groups for s in g] == list(weights)
    assert all(len(g) * weight <= COMMIT_BYTES for g in groups)


def test_the_shards_spread_profiles_evenly() -> None:
    counts = Counter(shard_of(f"{i:08x}-0000-4000-8000-000000000000") for i in range(16_000))
    assert len(counts) == SHARDS and max(counts.values()) < 250 * 1.3


@pytest.mark.parametrize(
    ("weights", "limit", "writes", "expected"),
    [
        ({}, 100, 500, []),
        ({"a": 30, "b": 30, "c": 40}, 100, 500, [["a", "b", "c"]]),
        ({"a": 60, "b": 60, "c": 40}, 100, 500, [["a"], ["b", "c"]]),
        ({"a": 150, "b": 10}, 100, 500, [["a"], ["b"]]),  # too big alone: still written
        ({"a": 1, "b": 1, "c": 1}, 100, 2, [["a", "b"], ["c"]]),
    ],
)
def test_commits_are_bounded_by_bytes_and_writes(
    weights: dict[str, int], limit: int, writes: int, expected: list[list[str]]
) -> None:
    assert commits(weights, limit, writes) == expected


def test_request_bytes_count_the_entries_and_their_framing() -> None:
    assert request_bytes({}) == WRITE_BYTES
    assert request_bytes({"ab": "é"}) == WRITE_BYTES + 2 + 2 + ENTRY_BYTES
    assert shard_bytes("00", {"ab": "é"}) == (21 + 1 + 2 + 1 + 16) + 13 + (3 + 3) + 32


class CountingStore(InMemoryDocumentStore):
    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        self.commits += 1
        return super().run_transaction(fn, max_attempts)


def test_the_changed_shards_go_in_several_commits_when_they_are_big() -> None:
    documents = CountingStore()
    pids = [f"p{n:04d}" for n in range(500)]
    for pid in pids:
        documents.set(PROFILES, pid, profile(pid))
    desired = {p: fields(float(n)) for n, p in enumerate(pids)}
    sync = ProfileSync(documents, commit_bytes=WRITE_BYTES + 10 * 40)  # ~one shard a commit
    sync.sync(desired)
    profile_commits = -(-len(pids) // 200)
    assert documents.commits - profile_commits > SHARDS // 2  # far more than one
    assert ProfileSync(documents).fingerprints() == {p: fingerprint(f) for p, f in desired.items()}


def test_big_profiles_go_in_transactions_bounded_by_bytes() -> None:
    """A profile is written whole (up to 1 MiB): 200 heavy ones would pass a commit's 10 MiB."""
    documents = CountingStore()
    pids = [f"p{n:04d}" for n in range(30)]
    for pid in pids:
        documents.set(PROFILES, pid, profile(pid, evidence=["e" * 1_000] * 10))  # ~10 KB each
    sync = ProfileSync(documents, commit_bytes=35_000)  # three profiles fit a transaction
    desired = {p: fields(float(n), "active_core") for n, p in enumerate(pids)}
    sync._save = lambda now: None  # type: ignore[method-assign]  # count the profiles' commits
    assert sync.sync(desired) == 30
    assert documents.commits == 10
    assert all(documents.get(PROFILES, p)["computed_traits"] for p in pids)  # type: ignore[index]
