"""SQL sources on the BigQuery and Firestore emulators: a query's rows become identify calls
once, an unchanged row sends nothing on the next run, a changed row sends one call; and
``cdp audiences members`` reads the memberships view and the identity map.

The module shares one set of datasets holding only what it reads: a CRM-like table of its own,
the identity assignments, the transitions and the two views over them."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.audiences.definitions import load_definitions
from shared.audiences.sql_source import LEDGER, run_sql_sources
from shared.audiences.tables import TRANSITIONS_TABLE
from shared.bootstrap import Services, bootstrap
from shared.envelope import decode_push
from shared.local.emulators import EmulatorPorts
from shared.ports.clock import FakeClock
from shared.ports.documents import document_id
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Column, Dataset, Table
from shared.topology import EVENTS
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    PROCESSED,
    RAW,
)
from tests.conftest import PROJECT
from tests.fakes import installed as services_installed
from tests.integration.test_warehouse_loader import needed, settings_for

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CRM = Table(
    "crm_accounts",
    (
        Column("user_id", "STRING"),
        Column("version", "INT64"),
        Column("plan", "STRING"),
        Column("seats", "INT64"),
        Column("mrr", "FLOAT64"),
        Column("renewed_at", "TIMESTAMP"),
    ),
)
DEFINITIONS = """
version: 1
sql_sources:
  {key}:
    owner: growth
    description: Each account's plan from the CRM export, its newest version.
    sql: >-
      SELECT user_id, plan, seats, mrr, renewed_at FROM `{{processed}}.crm_accounts`
      WHERE STARTS_WITH(COALESCE(user_id, '{unique}'), '{unique}')
      QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY version DESC) = 1
    identity: {{column: user_id, type: user_id}}
"""


@pytest.fixture(scope="module")
def prefix(emulators: EmulatorPorts) -> str:
    prefix = uuid.uuid4().hex[:10]
    settings = settings_for(prefix)
    wanted = needed(
        settings,
        f"{PROCESSED}.{IDENTITY_ASSIGNMENTS_TABLE}",
        f"{PROCESSED}.{TRANSITIONS_TABLE}",
        "curated.identity_map",
        "curated.audience_memberships",
        f"{RAW}.{EVENTS_TABLE}",
        f"{RAW}.{COLD_ARCHIVE_TABLE}",
    )
    wanted.append(Dataset(settings.dataset(PROCESSED), (CRM,)))
    bigquery(emulators).ensure(wanted)
    return prefix


def bigquery(emulators: EmulatorPorts) -> BigQueryWarehouse:
    return BigQueryWarehouse(PROJECT, "EU", f"http://127.0.0.1:{emulators.bigquery}")


@pytest.fixture
def services(emulators: EmulatorPorts, prefix: str) -> Services:
    warehouse = bigquery(emulators)
    return bootstrap(
        settings_for(prefix),
        clock=FakeClock(NOW),
        warehouse=warehouse,
        sql=warehouse,
        publisher=InMemoryPublisher(),
        documents=FirestoreDocumentStore(PROJECT),
    )


def insert(s: Services, table: str, rows: list[dict[str, Any]], layer: str = PROCESSED) -> None:
    name = f"{s.settings.dataset(layer)}.{table}"
    assert s.warehouse.insert_rows(name, rows, [uuid.uuid4().hex for _ in rows]) == []


def identifies(s: Services) -> list[dict[str, Any]]:
    assert isinstance(s.publisher, InMemoryPublisher)
    return [
        e
        for m in s.publisher.on(EVENTS)
        for e in decode_push({"message": {"data": base64.b64encode(m.data).decode()}}).events
    ]


def test_rows_are_sent_once_and_a_changed_row_once_more(
    services: Services, unique: str, tmp_path: Path
) -> None:
    key = f"crm_{unique}"
    path = tmp_path / "defs.yaml"
    path.write_text(DEFINITIONS.format(key=key, unique=unique))
    defs = load_definitions(path)
    renewed = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    a, b = f"{unique}-a", f"{unique}-b"
    insert(services, CRM.name, [
        {"user_id": a, "version": 1, "plan": "free", "seats": 1, "mrr": 0.0, "renewed_at": None},
        {"user_id": b, "version": 1, "plan": "plus", "seats": 3, "mrr": 29.5,
         "renewed_at": renewed.isoformat()},
        {"user_id": None, "version": 1, "plan": "pro", "seats": 9, "mrr": 1.0},
    ])  # fmt: skip

    first = run_sql_sources(services, defs=defs).to_json()["sources"][key]
    assert (first["rows"], first["emitted"], first["skipped"]) == (3, 2, 1)
    sent = {e["userId"]: e for e in identifies(services)}
    assert sent[b]["traits"] == {
        "plan": "plus", "seats": 3, "mrr": 29.5, "renewed_at": "2026-11-01T08:30:00.000Z"
    }  # fmt: skip
    assert sent[a]["traits"]["renewed_at"] is None and sent[a]["sourceId"] == f"sql-{key}"
    ledger = services.documents.get(LEDGER, document_id(f"{key}:{b}"))
    assert ledger is not None and ledger["message_id"] == sent[b]["messageId"]

    assert isinstance(services.clock, FakeClock)
    services.clock.advance(3600)
    second = run_sql_sources(services, defs=defs).to_json()["sources"][key]
    assert (second["emitted"], second["unchanged"]) == (0, 2)
    assert len(identifies(services)) == 2

    insert(services, CRM.name, [
        {"user_id": a, "version": 2, "plan": "pro", "seats": 1, "mrr": 99.0, "renewed_at": None}
    ])  # fmt: skip
    third = run_sql_sources(services, defs=defs).to_json()["sources"][key]
    assert (third["emitted"], third["unchanged"]) == (1, 1)
    *_, changed = identifies(services)
    assert changed["userId"] == a and changed["traits"]["plan"] == "pro"
    assert changed["messageId"] != sent[a]["messageId"]


@pytest.fixture
def installed(services: Services) -> Iterator[Services]:
    with services_installed(services):
        yield services


def cdp(*args: str) -> tuple[int, str]:
    from shared.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args, "--stack", "/nonexistent/stack.json"])
    return code, out.getvalue()


def assignment(kind: str, value: str, profile: str, when: datetime) -> dict[str, Any]:
    return {
        "assignment_id": uuid.uuid4().hex, "change_id": uuid.uuid4().hex, "change": "linked",
        "identifier_type": kind, "identifier_value": value, "profile_id": profile,
        "valid_from": when.isoformat(), "recorded_at": NOW.isoformat(),
    }  # fmt: skip


def test_members_are_the_open_memberships_with_the_profiles_user_ids(
    installed: Services, unique: str
) -> None:
    import json

    s = installed
    p1, p2, p3 = (f"{unique}-p{i}" for i in (1, 2, 3))
    at = NOW - timedelta(days=2)

    def transition(profile: str, kind: str, when: datetime, user: str | None) -> dict[str, Any]:
        return {
            "transition_id": uuid.uuid4().hex, "audience_key": "active_core",
            "profile_id": profile, "user_id": user, "transition": kind, "at": when.isoformat(),
            "run_id": "r", "reason": "", "recorded_at": NOW.isoformat(),
        }  # fmt: skip

    insert(s, TRANSITIONS_TABLE, [
        transition(p1, "entered", at, f"{unique}-u1"),
        transition(p2, "entered", at, f"{unique}-u2"),
        transition(p2, "exited", at + timedelta(days=1), f"{unique}-u2"),
        transition(p3, "entered", at, f"{unique}-gone"),
    ])  # fmt: skip
    insert(s, IDENTITY_ASSIGNMENTS_TABLE, [
        assignment("user_id", f"{unique}-u1", p1, at),
        assignment("user_id", f"{unique}-u1b", p1, at),
        assignment("anonymous_id", f"{unique}-anon", p1, at),
        assignment("user_id", f"{unique}-u2", p2, at),
    ])  # fmt: skip
    code, out = cdp("audiences", "members", "active_core", "--json")
    assert code == 0, out
    mine = [m for m in json.loads(out) if m["profile_id"].startswith(unique)]
    assert mine == [
        {"profile_id": p1, "user_ids": [f"{unique}-u1", f"{unique}-u1b"]},
        {"profile_id": p3, "user_ids": [f"{unique}-gone"]},  # not in the map: as stored
    ]


PREVIEW = """
audiences:
  big_spenders:
    name: Big spenders
    owner: growth
    description: Over 500 in completed transactions in the last 30 days.
    rule: {trait: transaction_volume_30d, op: gt, value: 500}
  big_and_active:
    name: Big and active
    owner: growth
    description: Big spenders in the active core.
    rule: {all: [{audience: big_spenders}, {audience: active_core}]}
"""


def test_preview_counts_the_files_audiences_over_the_shipped_ones_and_stores_nothing(
    installed: Services, unique: str, tmp_path: Path
) -> None:
    import json

    s = installed
    amounts = {"u1": [400.0, 300.0], "u2": [20.0], "u3": [200.0, 200.0, 200.0]}
    rows, people = [], []
    for person, spent in amounts.items():
        user = f"{unique}-{person}"
        people.append(assignment("user_id", user, f"{unique}-p-{person}", NOW - timedelta(days=40)))
        for i, amount in enumerate(spent):
            when = (NOW - timedelta(days=i + 1)).isoformat()
            event = {
                "type": "track",
                "event": "transaction_completed",
                "userId": user,
                "messageId": f"{user}-{i}",
                "timestamp": when,
                "properties": {"amount": amount, "type": "deposit", "method": "ach"},
            }
            rows.append({"message_id": event["messageId"], "type": "track",
                         "event": "transaction_completed", "user_id": user, "source_id": "backend",
                         "timestamp": when, "received_at": when, "loaded_at": when,
                         "payload": json.dumps(event)})  # fmt: skip
    insert(s, EVENTS_TABLE, rows, layer=RAW)
    insert(s, IDENTITY_ASSIGNMENTS_TABLE, people)
    path = tmp_path / "new.yaml"
    path.write_text(PREVIEW)
    record = s.documents.get("audience_runs", "latest")  # the emulator is the session's
    code, out = cdp("audiences", "preview", str(path), "--json")
    assert code == 0, out
    assert {a["key"]: a["size"] for a in json.loads(out)} == {
        "big_spenders": 2,
        "big_and_active": 1,
    }
    assert s.publisher.messages == []  # type: ignore[attr-defined]
    assert s.documents.get("audience_runs", "latest") == record
