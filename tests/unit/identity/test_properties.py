"""Properties over random event sequences: the clusters are the connected components of the
links, whatever the order and whichever instance handles each event; no profile ever breaks a
limit; every profile is explained by its evidence; unmerge then replay gives the same people."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.identity.evidence import explain
from shared.identity.graph import IDENTIFIERS, PROFILES
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.unmerge import Unmerger
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import clusters

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = {"user_id": "userId", "anonymous_id": "anonymousId"}


def to_event(n: int, ids: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "identify", "messageId": f"m{n}", "traits": {}}
    event["timestamp"] = f"2026-01-01T00:00:{n % 60:02d}.{n // 60:03d}Z"
    external = []
    for key in ids:
        kind, value = key.split(":", 1)
        if kind == "email" and "email" not in event["traits"]:
            event["traits"]["email"] = value
        elif FIELDS.get(kind) and FIELDS[kind] not in event:
            event[FIELDS[kind]] = value
        else:  # a second one of a kind travels in context.externalIds
            external.append({"id": value, "type": kind})
    event["context"] = {"externalIds": external}
    return event


@st.composite
def person_events(draw: st.DrawFn, wrong: bool = False) -> list[list[str]]:
    """Events that each carry identifiers of one person (≤ 1 userId, ≤ 2 emails): every link
    is allowed, so the clusters must be exactly the connected components. With ``wrong``, some
    events also carry the userIds of two people: a link never allowed, in any order."""
    events, users = [], []
    for p in range(draw(st.integers(1, 4))):
        ids = [f"anonymous_id:p{p}-a{i}" for i in range(draw(st.integers(1, 3)))]
        ids += [f"email:p{p}-e{i}@x.io" for i in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            ids.append(f"user_id:p{p}-u")
            users.append(ids[-1])
        for _ in range(draw(st.integers(1, 4))):
            chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
            events.append(chosen)
    if wrong and len(users) > 1:
        for _ in range(draw(st.integers(1, 3))):
            events.append(
                draw(st.lists(st.sampled_from(users), min_size=2, max_size=2, unique=True))
            )
    return draw(st.permutations(events))


def allowed(events: list[list[str]]) -> list[list[str]]:
    """The links the rules allow: of an event with two userIds, only the first one (by
    priority, then value) is kept; the other is left out."""
    return [[min(ids)] if sum(i.startswith("user_id:") for i in ids) > 1 else ids for ids in events]


def components(events: list[list[str]]) -> set[frozenset[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for ids in events:
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
        find(ids[0])
    groups: dict[str, set[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), set()).add(x)
    return {frozenset(g) for g in groups.values()}


def run(events: list[list[str]], instances: list[int]) -> InMemoryDocumentStore:
    """Two instances take turns, as ``instances`` says; each turn is one message of
    1 to 3 events (the instance's choice number + 1)."""
    store = InMemoryDocumentStore()
    repos = [ProfileRepository(store), ProfileRepository(store)]
    n, turn = 0, 0
    while n < len(events):
        choice = instances[turn % len(instances)]
        size = 1 + (turn * 7 + choice) % 3
        repos[choice].record_all(
            [to_event(i, events[i]) for i in range(n, n + size) if i < len(events)]
        )
        n, turn = n + size, turn + 1
    return store


@SETTINGS
@given(person_events(wrong=True), st.lists(st.integers(0, 1), min_size=1, max_size=5))
def test_clusters_are_the_connected_components_of_allowed_links_in_any_order(
    events: list[list[str]], instances: list[int]
) -> None:
    found = clusters(run(events, instances))
    assert found == components(allowed(events))
    assert all(sum(k.startswith("user_id:") for k in cluster) <= 1 for cluster in found)


POOL = (
    [f"user_id:u{i}" for i in range(3)]
    + [f"anonymous_id:a{i}" for i in range(4)]
    + [f"email:e{i}@x.io" for i in range(3)]
)


@SETTINGS
@given(
    st.lists(st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True), max_size=25),
    st.lists(st.integers(0, 1), min_size=1, max_size=5),
)
def test_any_events_keep_the_graph_consistent_and_every_limit(
    events: list[list[str]], instances: list[int]
) -> None:
    store = run(events, instances)
    repo = ProfileRepository(store)
    roots = {pid: doc for pid, doc in store.documents(PROFILES) if not doc.get("merged_into")}
    for pid, profile in roots.items():
        assert len(profile["identifiers"].get("user_id", [])) <= 1
        for kind, values in profile["identifiers"].items():
            for value in values:  # a root lists exactly what resolves to it
                assert (repo.find((kind, value)) or {}).get("profile_id") == pid
        kind, values = next(iter(profile["identifiers"].items()))
        start = Identifier(kind, values[0])
        assert explain(profile, start)["unlinked"] == []  # every identifier has its evidence
    for _, link in store.documents(IDENTIFIERS):
        assert (repo.find((link["type"], link["value"])) or {}).get("profile_id") in roots
    left_out = {c["identifier"] for p in roots.values() for c in p.get("conflicts", [])}
    assert {k for ids in events for k in ids} <= set().union(*clusters(store)) | left_out


@SETTINGS
@given(person_events(), st.data())
def test_unmerge_then_replay_of_the_same_evidence_gives_the_same_clusters(
    events: list[list[str]], data: st.DataObject
) -> None:
    store = run(events, [0])
    before = clusters(store)
    roots = [doc for _, doc in store.documents(PROFILES) if not doc.get("merged_into")]
    entries = [e for doc in roots for e in doc.get("evidence", []) if e["kind"] != "created"]
    if not entries:
        return
    entry = data.draw(st.sampled_from(entries))
    identifier = Identifier.parse(entry["identifiers"][0])
    Unmerger(store, ProfileRepository(store).config).unmerge(identifier, entry["id"], "2027")
    split = clusters(store)
    assert len(split) >= len(before)
    n = int(entry["id"][1:])
    ProfileRepository(store).record(to_event(n, events[n]))
    assert clusters(store) == before
