"""The audience run on the BigQuery and Firestore emulators: the compiled SQL over hand-built raw
events and identity assignments, the membership history view, the profiles, and the events
handed to ingest (a fake publisher receives them).

One scenario: a first run enters people; a second one with nothing changed writes and emits
nothing; a day later, with new events, one person leaves a windowed audience, another joins it,
and only those two profiles are written; an as-of run then stores a past snapshot as its own
lineage, which the next present run ignores; that run exits (and announces) the members of an
audience removed from the definitions, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.audiences.definitions import parse_definitions
from shared.audiences.emit import ENTERED_EVENT, EXITED_EVENT
from shared.audiences.profiles import AUDIENCES, FINGERPRINTS, TRAITS
from shared.audiences.run import current_lineage, run_audiences
from shared.audiences.state import RUNS
from shared.audiences.tables import (
    MEMBERSHIPS_VIEW,
    PRESENT,
    TRAIT_STATE_TABLE,
    TRANSITIONS_TABLE,
)
from shared.bootstrap import Services
from shared.identity.graph import PROFILES
from shared.ports.clock import FakeClock
from shared.ports.publisher import InMemoryPublisher
from shared.topology import EVENTS
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
)
from tests.integration.test_warehouse_loader import services_on

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
ONLY = (
    f"{RAW}.{EVENTS_TABLE}",
    f"{RAW}.{COLD_ARCHIVE_TABLE}",
    f"{PROCESSED}.{IDENTITY_ASSIGNMENTS_TABLE}",
    f"{PROCESSED}.{TRAIT_STATE_TABLE}",
    f"{PROCESSED}.{TRANSITIONS_TABLE}",
    f"{CURATED}.{IDENTITY_MAP_VIEW}",
    f"{CURATED}.{MEMBERSHIPS_VIEW}",
)
DEFS = parse_definitions(
    {
        "version": 1,
        "traits": {
            "transaction_volume_30d": {
                "owner": "growth",
                "description": "Completed, 30 days.",
                "event": "transaction_completed",
                "aggregate": "sum",
                "property": "amount",
                "window": "30d",
            },
        },
        "audiences": {
            "active_core": {
                "name": "Active core",
                "owner": "growth",
                "description": "Three completed in 30 days.",
                "high_value_threshold": 500,
                "carry": ["transaction_volume_30d"],
                "rule": {"event": "transaction_completed", "within": "30d", "at_least": 3},
            },
            "direct_deposit": {
                "name": "Direct deposit enabled",
                "owner": "growth",
                "description": "Enabled it, ever.",
                "rule": {"event": "direct_deposit_enabled", "at_least": 1},
            },
        },
    }
)


def raw_event(mid: str, user: str, event: str, at: datetime, **props: Any) -> dict[str, Any]:
    payload = {
        "type": "track",
        "event": event,
        "userId": user,
        "messageId": mid,
        "timestamp": at.isoformat(),
        "receivedAt": at.isoformat(),
        "sourceId": "backend",
        "properties": props,
    }
    return {
        "message_id": mid,
        "type": "track",
        "event": event,
        "user_id": user,
        "anonymous_id": None,
        "source_id": "backend",
        "timestamp": at,
        "received_at": at,
        "loaded_at": at,
        "payload": json.dumps(payload),
    }


def assignment(user: str, profile: str) -> dict[str, Any]:
    at = NOW - timedelta(days=60)
    return {
        "assignment_id": f"c-{user}:user_id:{user}",
        "change_id": f"c-{user}",
        "change": "created",
        "identifier_type": "user_id",
        "identifier_value": user,
        "profile_id": profile,
        "valid_from": at,
        "recorded_at": at,
    }


def insert(s: Services, layer: str, table: str, rows: list[dict[str, Any]], key: str) -> None:
    assert s.warehouse.insert_rows(f"{s.settings.dataset(layer)}.{table}", rows,
                                   [r[key] for r in rows]) == []  # fmt: skip


def load_events(s: Services, *rows: dict[str, Any]) -> None:
    insert(s, RAW, EVENTS_TABLE, list(rows), "message_id")


def published(s: Services) -> list[dict[str, Any]]:
    assert isinstance(s.publisher, InMemoryPublisher)
    found = [e for m in s.publisher.on(EVENTS) for e in json.loads(m.data)["events"]]
    s.publisher.messages.clear()
    return found


def tracks(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((e["event"], e["properties"]["audience_key"], e["userId"])
                  for e in events if e["type"] == "track")  # fmt: skip


def open_members(s: Services, lineage: str = PRESENT) -> set[tuple[str, str]]:
    view = s.settings.table(CURATED, MEMBERSHIPS_VIEW)
    sql = f"SELECT audience_key, profile_id FROM `{view}` WHERE exited_at IS NULL AND lineage = @l"
    rows = s.sql.query(sql, {"l": lineage})
    return {(r["audience_key"], r["profile_id"]) for r in rows}


def test_runs_enter_announce_write_then_change_only_what_changed(
    bigquery: BigQueryWarehouse, unique: str
) -> None:
    clock = FakeClock(NOW)
    s = services_on(bigquery, unique, clock, only=ONLY)
    for collection in (RUNS, FINGERPRINTS):  # the emulator's Firestore outlives one test
        for doc_id, _ in s.documents.list(collection, limit=1000):
            s.documents.delete(collection, doc_id)
    ann, bob, cat = (f"{unique}-{name}" for name in ("ann", "bob", "cat"))
    pa, pb, pc = (f"p-{user}" for user in (ann, bob, cat))
    people = ((ann, pa), (bob, pb), (cat, pc))
    insert(
        s, PROCESSED, IDENTITY_ASSIGNMENTS_TABLE, [assignment(*p) for p in people], "assignment_id"
    )
    for user, pid in people:
        s.documents.set(PROFILES, pid, {"profile_id": pid, "identifiers": {"user_id": [user]}})
    edge = NOW - timedelta(days=29, hours=20)  # inside 30 days now, outside a day later
    load_events(
        s,
        raw_event(f"{ann}-dd", ann, "direct_deposit_enabled", NOW - timedelta(days=10)),
        *(
            raw_event(f"{ann}-t{i}", ann, "transaction_completed", edge, amount=200.0)
            for i in range(3)
        ),
        raw_event(f"{bob}-t0", bob, "transaction_completed", NOW - timedelta(days=2), amount=5.0),
        raw_event(f"{cat}-dd", cat, "direct_deposit_enabled", NOW - timedelta(minutes=20)),
    )

    first = run_audiences(s, defs=DEFS)
    assert first.sizes == {"active_core": 1, "direct_deposit": 2}
    assert open_members(s) == {("active_core", pa), ("direct_deposit", pa), ("direct_deposit", pc)}
    assert first.state_rows > 0  # ann's deposit (10 days ago) went into the state
    events = published(s)
    assert tracks(events) == [(ENTERED_EVENT, "active_core", ann),
                              (ENTERED_EVENT, "direct_deposit", ann),
                              (ENTERED_EVENT, "direct_deposit", cat)]  # fmt: skip
    core = next(e for e in events if e.get("properties", {}).get("audience_key") == "active_core")
    assert core["properties"]["high_value"] is True
    assert core["properties"]["transaction_volume_30d"] == 600.0
    assert first.events_emitted == 6 and first.profiles_written == 3
    doc = s.documents.get(PROFILES, pa) or {}
    assert doc[TRAITS] == {"transaction_volume_30d": 600.0}
    assert set(doc[AUDIENCES]) == {"active_core", "direct_deposit"}
    assert (s.documents.get(PROFILES, pb) or {})[TRAITS] == {"transaction_volume_30d": 5.0}

    clock.advance(600)
    again = run_audiences(s, defs=DEFS)
    assert (again.events_emitted, again.profiles_written, again.transitions) == (0, 0, 0)
    assert published(s) == []

    clock.advance(86_400)
    later = NOW + timedelta(hours=1)
    load_events(s, *(raw_event(f"{bob}-n{i}", bob, "transaction_completed", later, amount=1.0)
                     for i in range(2)))  # fmt: skip
    changed = run_audiences(s, defs=DEFS)
    assert tracks(published(s)) == [(ENTERED_EVENT, "active_core", bob),
                                    (EXITED_EVENT, "active_core", ann)]  # fmt: skip
    assert (changed.entered, changed.exited) == ({"active_core": 1}, {"active_core": 1})
    assert changed.profiles_written == 2  # ann's volume and stage, bob's; cat's unchanged
    assert open_members(s) == {("active_core", pb), ("direct_deposit", pa), ("direct_deposit", pc)}
    assert (s.documents.get(PROFILES, pa) or {})[AUDIENCES].keys() == {"direct_deposit"}
    assert (s.documents.get(RUNS, "latest") or {})["run_id"] == changed.run_id

    past = run_audiences(s, as_of=NOW - timedelta(days=5), defs=DEFS)  # after hourly runs
    assert past.entered == {"active_core": 1, "direct_deposit": 1} and published(s) == []
    assert current_lineage(s.documents) == past.run_id
    assert open_members(s, past.run_id) == {("active_core", pa), ("direct_deposit", pa)}
    assert open_members(s) == {("active_core", pb), ("direct_deposit", pa), ("direct_deposit", pc)}

    clock.advance(3600)
    only_core = DEFS.model_copy(
        update={"audiences": {"active_core": DEFS.audiences["active_core"]}}
    )
    removed = run_audiences(s, defs=only_core)  # the as-of lineage moved nothing; a removal did
    assert current_lineage(s.documents) == "present"
    assert removed.exited == {"direct_deposit": 2} and removed.entered == {}
    events = published(s)
    assert tracks(events) == [(EXITED_EVENT, "direct_deposit", ann),
                              (EXITED_EVENT, "direct_deposit", cat)]  # fmt: skip
    assert {e["userId"]: e["traits"] for e in events if e["type"] == "identify"} == {
        ann: {"direct_deposit": False}, cat: {"direct_deposit": False}}  # fmt: skip
    assert open_members(s) == {("active_core", pb)}
    assert run_audiences(s, defs=only_core).transitions == 0
