"""Row mapping, table by table: what each Segment call becomes in the processed layer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.identity.changes import Assignment, IdentityChange
from shared.warehouse.processed import processed_tables
from shared.warehouse.rows import assignment_rows, processed_row

NOW = "2026-11-22T10:00:00+00:00"
BASE = {
    "messageId": "m1",
    "userId": "u1",
    "anonymousId": "a1",
    "sourceId": "web",
    "timestamp": "2026-11-20T10:00:00.000Z",
    "receivedAt": "2026-11-20T10:00:02.000Z",
    "context": {"ip": "1.2.3.4"},
}
CASES: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    (
        {"type": "track", "event": "transaction_completed", "properties": {"amount": 5}},
        "tracks",
        {"event": "transaction_completed", "properties": '{"amount":5}'},
    ),
    ({"type": "identify", "traits": {"plan": "pro"}}, "identifies", {"traits": '{"plan":"pro"}'}),
    (
        {"type": "page", "name": "Home", "properties": {"path": "/", "url": "https://x/", "n": 1}},
        "pages",
        {"name": "Home", "path": "/", "url": "https://x/", "referrer": None},
    ),
    ({"type": "screen", "name": "Wallet"}, "screens", {"name": "Wallet", "properties": "{}"}),
    ({"type": "group", "groupId": 42, "traits": {}}, "groups", {"group_id": "42"}),
    ({"type": "alias", "previousId": "a0"}, "aliases", {"previous_id": "a0"}),
]


@pytest.mark.parametrize(("event", "table", "expected"), CASES, ids=[c[1] for c in CASES])
def test_each_call_type_maps_to_its_table(
    event: dict[str, Any], table: str, expected: dict[str, Any]
) -> None:
    mapped = processed_row({**BASE, **event}, NOW)
    assert mapped is not None
    name, row = mapped
    assert name == table
    assert row.items() >= expected.items()
    assert (row["message_id"], row["user_id"], row["anonymous_id"]) == ("m1", "u1", "a1")
    assert json.loads(row["context"]) == {"ip": "1.2.3.4"}
    declared = {t.name: {c.name for c in t.columns} for t in processed_tables()}
    assert set(row) == declared[table]  # nothing the table does not declare


@pytest.mark.parametrize(
    ("event", "timestamp"),
    [
        ({"timestamp": "2026-01-01T00:00:00Z", "receivedAt": "r"}, "2026-01-01T00:00:00Z"),
        ({"receivedAt": "2026-01-02T00:00:00Z"}, "2026-01-02T00:00:00Z"),
        ({}, NOW),
    ],
)
def test_timestamp_falls_back_to_received_then_loaded(
    event: dict[str, Any], timestamp: str
) -> None:
    mapped = processed_row({"type": "track", "event": "x", "messageId": "m", **event}, NOW)
    assert mapped is not None and mapped[1]["timestamp"] == timestamp


def test_unknown_call_types_have_no_processed_row() -> None:
    assert processed_row({**BASE, "type": "nonsense"}, NOW) is None


def test_a_merge_reassigns_every_identifier_with_deterministic_ids() -> None:
    change = IdentityChange(
        change_id="c9",
        change="merged",
        at="2026-11-20T10:00:00Z",
        assignments=(Assignment("anonymous_id", "a2", "p1"), Assignment("email", "e@x", "p1")),
        profile_id="p1",
        absorbed_profile_id="p2",
        message_id="m7",
    )
    rows = assignment_rows(change, NOW)
    assert [r["assignment_id"] for r in rows] == ["c9:anonymous_id:a2", "c9:email:e@x"]
    assert {(r["profile_id"], r["valid_from"], r["absorbed_profile_id"]) for r in rows} == {
        ("p1", "2026-11-20T10:00:00Z", "p2")
    }
    assert assignment_rows(change, "later") != rows  # recorded_at differs ...
    assert [r["assignment_id"] for r in assignment_rows(change, "later")] == [
        r["assignment_id"] for r in rows
    ]  # ... but the insert ids do not, so a redelivery dedups
