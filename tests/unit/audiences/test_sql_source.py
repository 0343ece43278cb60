"""SQL sources: rows to identify calls (pure), and runs on fakes: the ledger, skips, dry runs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest

from shared.audiences.definitions import Definitions, load_definitions
from shared.audiences.sql_source import LEDGER, run_sql_sources
from shared.audiences.sql_source_rows import (
    EMPTY_IDENTITY,
    NO_IDENTITY_COLUMN,
    REPEATED_IDENTITY,
    SUPPRESSED,
    expand,
    message_id,
    read_row,
    source_of,
)
from shared.bootstrap import Services, bootstrap
from shared.envelope import decode_push
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore, document_id
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse, SqlRunner
from shared.settings import Settings
from shared.topology import EVENTS, FAILED_EVENTS
from tests.fakes import unit_settings

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "traits", "identity", "got", "skip"),
    [
        ({"user_id": "u1", "plan": "pro", "n": 2}, None, "u1", {"plan": "pro", "n": 2}, ""),
        ({"user_id": "u1", "plan": "pro", "n": 2}, ["plan"], "u1", {"plan": "pro"}, ""),
        ({"user_id": 42, "plan": None}, None, "42", {"plan": None}, ""),
        ({"user_id": "u1"}, ["absent"], "u1", {"absent": None}, ""),
        ({"user_id": None, "plan": "pro"}, None, "", None, EMPTY_IDENTITY.format(column="user_id")),
        ({"user_id": "  ", "plan": "pro"}, None, "", None, EMPTY_IDENTITY.format(column="user_id")),
        ({"user_id": "", "plan": "pro"}, None, "", None, EMPTY_IDENTITY.format(column="user_id")),
        ({"id": "u1"}, None, "", None, NO_IDENTITY_COLUMN.format(column="user_id")),
    ],
)
def test_a_row_gives_its_identity_and_traits_or_why_not(
    row: dict[str, Any], traits: list[str] | None, identity: str, got: Any, skip: str
) -> None:
    read = read_row(row, "user_id", traits)
    assert (read.identity, read.traits, read.skip) == (identity, got, skip)


def test_message_ids_are_stable_per_content_and_differ_by_key_identity_traits_and_history() -> None:
    one = message_id("crm", "u1", {"plan": "pro", "n": 1})
    assert one == message_id("crm", "u1", {"n": 1, "plan": "pro"})  # canonical: key order
    assert one.startswith("sql-") and len(one) == 36
    others = {
        message_id("crm2", "u1", {"plan": "pro", "n": 1}),
        message_id("crm", "u2", {"plan": "pro", "n": 1}),
        message_id("crm", "u1", {"plan": "pro", "n": 2}),
        message_id("crm", "u1", {"plan": "pro", "n": 1}, previous="sql-earlier"),
    }
    assert one not in others and len(others) == 4


def test_layers_in_a_query_name_the_settings_datasets_and_nothing_else_changes() -> None:
    settings = Settings(project_id="p", dataset_prefix="x")
    sql = "SELECT REGEXP_EXTRACT(a, r'\\d{2}') FROM `{processed}.users`, `{curated}.m` {other}"
    expanded = (
        "SELECT REGEXP_EXTRACT(a, r'\\d{2}') FROM `p.x_processed.users`, `p.x_curated.m` {other}"
    )
    assert expand(sql, settings) == expanded


class RowsSql(SqlRunner):
    """Answers every query with the rows of ``answers`` for the first marker found in it."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries.append(sql)
        for marker, rows in self.answers.items():
            if marker in sql:
                if isinstance(rows, Exception):
                    raise rows
                return [dict(r) for r in rows]
        raise AssertionError(f"unexpected query: {sql}")


DEFINITIONS = """
version: 1
sql_sources:
  crm:
    owner: growth
    description: Plans from the CRM export.
    sql: "SELECT * FROM `{processed}.crm` -- crm"
    identity: {column: user_id, type: user_id}
    traits: [plan, seats]
  devices:
    owner: growth
    description: Device models by anonymous id.
    sql: "SELECT * FROM `{processed}.devices` -- devices"
    identity: {column: device, type: anonymous_id}
"""


@pytest.fixture
def defs(tmp_path: Path) -> Definitions:
    path = tmp_path / "defs.yaml"
    path.write_text(DEFINITIONS)
    return load_definitions(path)


def services_with(sql: SqlRunner, documents: InMemoryDocumentStore | None = None) -> Services:
    return bootstrap(
        unit_settings(),
        clock=FakeClock(NOW),
        publisher=InMemoryPublisher(),
        documents=documents or InMemoryDocumentStore(),
        warehouse=InMemoryWarehouse(),
        sql=sql,
        http=FakeHttpSender(),
    )


def published(s: Services, topic: str = EVENTS) -> list[dict[str, Any]]:
    assert isinstance(s.publisher, InMemoryPublisher)
    return [
        e
        for m in s.publisher.on(topic)
        for e in decode_push({"message": {"data": base64.b64encode(m.data).decode()}}).events
    ]


CRM: list[dict[str, Any]] = [
    {"user_id": "u1", "plan": "pro", "seats": Decimal("3"), "ignored": "x"},
    {"user_id": "u2", "plan": "free", "seats": None, "ignored": "y"},
    {"user_id": None, "plan": "pro", "seats": 1, "ignored": "z"},
    {"user_id": "u1", "plan": "plus", "seats": 9, "ignored": "w"},
]
SEEN = datetime(2026, 11, 1, tzinfo=UTC)
DEVICES: list[dict[str, Any]] = [{"device": "a-1", "model": "Pixel", "seen": SEEN}]


def test_each_row_becomes_one_identify_and_an_unchanged_row_sends_nothing_next_run(
    defs: Definitions,
) -> None:
    sql = RowsSql({"-- crm": CRM, "-- devices": DEVICES})
    s = services_with(sql)
    first = run_sql_sources(s, defs=defs).to_json()
    assert first["sources"]["crm"] == {
        "rows": 4, "emitted": 2, "unchanged": 0, "skipped": 2, "failed": 0, "error": None,
        "skipped_why": {EMPTY_IDENTITY.format(column="user_id"): 1, REPEATED_IDENTITY: 1},
    }  # fmt: skip
    assert first["sources"]["devices"]["emitted"] == 1
    assert "`cdp-unit.cdp_processed.crm`" in sql.queries[0]
    events = {e.get("userId") or e.get("anonymousId"): e for e in published(s)}
    assert set(events) == {"u1", "u2", "a-1"}
    u1 = events["u1"]
    assert u1["type"] == "identify" and u1["traits"] == {"plan": "pro", "seats": 3}
    assert u1["messageId"] == message_id("crm", "u1", {"plan": "pro", "seats": 3})
    assert u1["sourceId"] == "sql-crm" and u1["timestamp"] == u1["receivedAt"]
    assert u1["context"]["library"] == {"name": "cdp-sql-sources", "version": 1}
    assert events["a-1"]["traits"] == {"model": "Pixel", "seen": "2026-11-01T00:00:00.000Z"}
    assert "userId" not in events["a-1"]
    ledger = s.documents.get(LEDGER, document_id("crm:u1"))
    assert ledger is not None and ledger["message_id"] == u1["messageId"]

    second = run_sql_sources(s, defs=defs).to_json()
    assert second["sources"]["crm"]["emitted"] == 0
    assert second["sources"]["crm"]["unchanged"] == 2
    assert second["sources"]["devices"] == {
        **first["sources"]["devices"],
        "emitted": 0,
        "unchanged": 1,
    }
    assert len(published(s)) == 3


def test_a_changed_row_sends_once_and_changing_back_gets_a_new_message_id(
    defs: Definitions,
) -> None:
    sql = RowsSql({"-- crm": [CRM[0]], "-- devices": []})
    s = services_with(sql)
    run_sql_sources(s, defs=defs)
    sql.answers["-- crm"] = [{**CRM[0], "plan": "plus"}]
    assert run_sql_sources(s, defs=defs).sources["crm"].emitted == 1
    assert run_sql_sources(s, defs=defs).sources["crm"].emitted == 0
    sql.answers["-- crm"] = [CRM[0]]  # back to what the first run sent
    assert run_sql_sources(s, defs=defs).sources["crm"].emitted == 1
    sent = [e["messageId"] for e in published(s)]
    plans = [e["traits"]["plan"] for e in published(s)]
    assert plans == ["pro", "plus", "pro"] and len(set(sent)) == 3


def test_a_dry_run_counts_what_it_would_send_and_sends_and_records_nothing(
    defs: Definitions,
) -> None:
    documents = InMemoryDocumentStore()
    s = services_with(RowsSql({"-- crm": CRM, "-- devices": DEVICES}), documents)
    report = run_sql_sources(s, defs=defs, dry_run=True).to_json()
    assert report["dry_run"] is True
    assert report["sources"]["crm"]["emitted"] == 2
    assert published(s) == [] and documents.list(LEDGER) == []


def test_a_failed_query_is_reported_and_the_other_sources_still_run(defs: Definitions) -> None:
    failing: Any = BadRequest("Unrecognized name: plan")  # type: ignore[no-untyped-call]
    s = services_with(RowsSql({"-- crm": failing, "-- devices": DEVICES}))
    report = run_sql_sources(s, defs=defs).to_json()
    assert "Unrecognized name: plan" in report["sources"]["crm"]["error"]
    assert report["sources"]["crm"]["emitted"] == 0
    assert report["sources"]["devices"]["emitted"] == 1


def test_a_suppressed_persons_row_is_skipped_and_their_ledger_entry_removed(
    defs: Definitions,
) -> None:
    from shared.governance.privacy.suppression import SuppressionList
    from shared.identity.identifiers import Identifier

    documents = InMemoryDocumentStore()
    sql = RowsSql({"-- crm": CRM[:2], "-- devices": []})
    s = services_with(sql, documents)
    run_sql_sources(s, defs=defs)
    assert documents.get(LEDGER, document_id("crm:u2")) is not None
    listed = SuppressionList(documents, s.settings.pii_hash_key)
    listed.add(listed.hashes([Identifier("user_id", "u2")]), "req-1", NOW.isoformat())
    sql.answers["-- crm"] = [{**CRM[0], "plan": "plus"}, {**CRM[1], "plan": "pro"}]
    fresh = services_with(sql, documents)  # a new instance reads the suppression list
    tally = run_sql_sources(fresh, defs=defs).sources["crm"]
    assert (tally.emitted, tally.skipped, dict(tally.skipped_why)) == (1, 1, {SUPPRESSED: 1})
    assert [e["userId"] for e in published(fresh)] == ["u1"]
    assert documents.get(LEDGER, document_id("crm:u2")) is None


def test_an_identity_firestore_refuses_as_an_id_is_escaped_in_the_ledger(
    defs: Definitions,
) -> None:
    documents = InMemoryDocumentStore()
    row = {"user_id": "a/b..", "plan": "pro", "seats": 1}
    s = services_with(RowsSql({"-- crm": [row], "-- devices": []}), documents)
    assert run_sql_sources(s, defs=defs).sources["crm"].emitted == 1
    assert run_sql_sources(s, defs=defs).sources["crm"].unchanged == 1
    assert documents.get(LEDGER, document_id("crm:a/b..")) is not None


def test_a_source_is_internal_with_no_write_key() -> None:
    source = source_of("crm")
    assert (source.id, source.kind, source.write_key_sha256) == ("sql-crm", "internal", "")


def test_no_sql_sources_is_an_empty_report(tmp_path: Path) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text("version: 1\n")
    s = services_with(RowsSql({}))
    assert run_sql_sources(s, defs=load_definitions(path)).to_json() == {
        "dry_run": False,
        "sources": {},
    }
    assert published(s, FAILED_EVENTS) == []
