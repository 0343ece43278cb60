"""A run end to end on fakes: the SQL's rows (shaped as the compiler gives them) come from a small
fake SqlRunner; the memberships view is recomputed from the transitions the fake warehouse holds.
The SQL itself runs on the BigQuery emulator in the integration tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.audiences.definitions import parse_definitions
from shared.audiences.emit import ENTERED_EVENT, EXITED_EVENT
from shared.audiences.memberships import DELETED, MERGED
from shared.audiences.profiles import AUDIENCES, FINGERPRINTS, TRAITS
from shared.audiences.removals import REMOVED
from shared.audiences.run import (
    LATEST,
    PENDING,
    AsOfRefused,
    current_lineage,
    run_audiences,
)
from shared.audiences.state import RUNS, STATE, StateRefused
from shared.audiences.tables import MEMBERSHIPS_VIEW, TRAIT_STATE_TABLE, TRANSITIONS_TABLE
from shared.bootstrap import Services, bootstrap
from shared.governance.privacy.suppression import SuppressionList
from shared.identity.graph import PROFILES
from shared.identity.identifiers import Identifier
from shared.identity.records import forwarding
from shared.jobs import run_job
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse, Row, RowError, SqlRunner
from shared.topology import EVENTS
from shared.warehouse.layers import IDENTITY_MAP_VIEW
from shared.warehouse.tables import datasets
from tests.fakes import unit_settings

NOW = datetime(2026, 3, 10, 12, 30, 15, tzinfo=UTC)
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
            }
        },
        "audiences": {
            "churn_risk": {
                "name": "Churn risk",
                "owner": "growth",
                "description": "Fewer sessions.",
                "high_value_threshold": 500,
                "carry": ["transaction_volume_30d"],
                "rule": {"event": "transaction_completed", "within": "21d", "never": True},
            },
            "direct_deposit": {
                "name": "Direct deposit enabled",
                "owner": "growth",
                "description": "Enabled it.",
                "rule": {"event": "direct_deposit_enabled", "at_least": 1},
            },
        },
    }
)
STATE_ROW = {
    "state_id": "s1",
    "trait_key": "h_abc",
    "identifier_type": "user_id",
    "identifier_value": "u1",
    "anonymous_id": None,
    "loaded_hour": datetime(2026, 3, 10, 10, tzinfo=UTC),
    "value": "",
    "events": 1,
    "total": None,
    "minimum": None,
    "maximum": None,
    "first_at": datetime(2026, 3, 10, 10, 5, tzinfo=UTC),
    "last_at": datetime(2026, 3, 10, 10, 5, tzinfo=UTC),
    "recorded_at": NOW,
}


class RunSql(SqlRunner):
    """The run's queries: the state refresh (params ``from``/``until``), the run (params
    ``as_of``), the open memberships of a lineage (the view, replayed here over the stored
    transitions) and the identity map's current userIds and anonymousIds."""

    def __init__(self, warehouse: InMemoryWarehouse, transitions: str) -> None:
        self.warehouse = warehouse
        self.transitions = transitions
        self.people: list[Row] = []
        self.state: list[Row] = []
        self.identifiers: list[Row] = []  # profile_id, identifier_type, identifier_value
        self.calls: list[dict[str, Any]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        params = dict(params or {})
        if not params and IDENTITY_MAP_VIEW in sql:  # the run's SQL joins it too, with params
            return [dict(r) for r in self.identifiers]
        self.calls.append(params)
        if "from" in params:
            return [dict(r) for r in self.state]
        if "as_of" in params:
            return [dict(r) for r in self.people]
        assert MEMBERSHIPS_VIEW in sql
        return self.open_memberships(params["lineage"])

    def open_memberships(self, lineage: str = "present") -> list[Row]:
        rows = {r["transition_id"]: r for r in self.warehouse.rows[self.transitions]}.values()
        last: dict[tuple[str, str], Row] = {}
        for r in sorted(rows, key=lambda r: (r["at"], r["transition"])):
            if (r["run_id"] if r["run_id"].startswith("as-of-") else "present") == lineage:
                last[(r["audience_key"], r["profile_id"])] = r
        return [
            {k: r[k] for k in ("audience_key", "profile_id", "user_id")} | {"entered_at": r["at"]}
            for r in last.values()
            if r["transition"] == "entered"
        ]


class CrashingWarehouse(InMemoryWarehouse):
    """Fails ``crashes`` times when the transitions are stored: a run stopped after it
    announced its changes and before it stored them."""

    crashes = 0

    def insert_rows(
        self, table: str, rows: Sequence[Row], row_ids: Sequence[str]
    ) -> list[RowError]:
        if table.endswith(TRANSITIONS_TABLE) and self.crashes:
            self.crashes -= 1
            raise ConnectionError("the run's instance went away")
        return super().insert_rows(table, rows, row_ids)


def person(pid: str, *audiences: str, user: str | None = None, volume: float | None = None) -> Row:
    return {
        "profile_id": pid,
        "user_id": user if user is not None else f"u-{pid}",
        "anonymous_id": f"d-{pid}",
        "t_transaction_volume_30d": volume,
        **{f"a_{k}": k in audiences for k in DEFS.audiences},
    }


@pytest.fixture
def services() -> Services:
    settings = unit_settings()
    warehouse = CrashingWarehouse()
    warehouse.ensure(datasets(settings))
    transitions = f"{settings.dataset('processed')}.{TRANSITIONS_TABLE}"
    documents = InMemoryDocumentStore()
    for pid in ("p1", "p2", "p3", "p4"):
        documents.set(PROFILES, pid, {"profile_id": pid, "identifiers": {}, "traits": {}})
    return bootstrap(
        settings,
        clock=FakeClock(NOW),
        publisher=InMemoryPublisher(),
        documents=documents,
        warehouse=warehouse,
        sql=RunSql(warehouse, transitions),
        http=FakeHttpSender(),
    )


def sql_of(s: Services) -> RunSql:
    assert isinstance(s.sql, RunSql)
    return s.sql


def published(s: Services) -> list[dict[str, Any]]:
    assert isinstance(s.publisher, InMemoryPublisher)
    return [e for m in s.publisher.on(EVENTS) for e in json.loads(m.data)["events"]]


def transitions(s: Services) -> list[Row]:
    assert isinstance(s.warehouse, InMemoryWarehouse)
    return s.warehouse.rows[sql_of(s).transitions]


def tracks(s: Services) -> list[tuple[str, str, str]]:
    return [(e["event"], e["properties"]["audience_key"], e["userId"])
            for e in published(s) if e["type"] == "track"]  # fmt: skip


def test_a_present_run_refreshes_the_state_enters_emits_and_writes_profiles(
    services: Services,
) -> None:
    s = services
    sql_of(s).state = [STATE_ROW]
    sql_of(s).people = [person("p1", "churn_risk", volume=612.5), person("p2", "direct_deposit"),
                        person("p3")]  # fmt: skip
    report = run_audiences(s, defs=DEFS)
    assert report.emitted and report.as_of == "2026-03-10T12:30:15.000Z"
    assert report.sizes == {"churn_risk": 1, "direct_deposit": 1}
    assert (report.entered, report.exited) == ({"churn_risk": 1, "direct_deposit": 1}, {})
    assert (report.events_emitted, report.profiles_written, report.state_rows) == (4, 3, 1)
    state_call, run_call, _ = sql_of(s).calls
    until = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert state_call == {"from": datetime(1970, 1, 1, tzinfo=UTC), "until": until}
    assert run_call == {"as_of": NOW.replace(microsecond=0), "state_until": until}
    assert isinstance(s.warehouse, InMemoryWarehouse)
    assert s.warehouse.rows[f"{s.settings.dataset('processed')}.{TRAIT_STATE_TABLE}"] == [STATE_ROW]
    assert (s.documents.get(RUNS, STATE) or {})["state_until"] == "2026-03-10T12:00:00.000Z"
    assert sorted(tracks(s)) == [(ENTERED_EVENT, "churn_risk", "u-p1"),
                                 (ENTERED_EVENT, "direct_deposit", "u-p2")]  # fmt: skip
    churn = next(e for e in published(s) if e.get("properties", {}).get("high_value"))
    assert churn["properties"]["transaction_volume_30d"] == 612.5
    assert sorted((r["audience_key"], r["profile_id"], r["transition"], r["reason"])
                  for r in transitions(s)) == [("churn_risk", "p1", "entered", ""),
                                               ("direct_deposit", "p2", "entered", "")]  # fmt: skip
    ids = {e["messageId"] for e in published(s) if e["type"] == "track"}
    assert {r["transition_id"] for r in transitions(s)} == ids
    p1 = s.documents.get(PROFILES, "p1") or {}
    assert p1[TRAITS] == {"transaction_volume_30d": 612.5}
    assert p1[AUDIENCES] == {"churn_risk": {"entered_at": "2026-03-10T12:30:15.000Z"}}
    assert (s.documents.get(PROFILES, "p3") or {})[AUDIENCES] == {}
    latest = s.documents.get(RUNS, LATEST) or {}
    assert latest["run_id"] == report.run_id and latest["finished_at"]


def test_a_second_run_with_nothing_changed_writes_and_emits_nothing(services: Services) -> None:
    s = services
    sql_of(s).people = [person("p1", "churn_risk", volume=10.0), person("p2")]
    run_audiences(s, defs=DEFS)
    before = (len(published(s)), len(transitions(s)))
    assert isinstance(s.documents, InMemoryDocumentStore)
    profiles_before = dict(s.documents.documents(PROFILES))
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(600)
    again = run_audiences(s, defs=DEFS)
    assert (again.events_emitted, again.profiles_written, again.transitions) == (0, 0, 0)
    assert (again.entered, again.exited) == ({}, {})
    assert (len(published(s)), len(transitions(s))) == before
    assert dict(s.documents.documents(PROFILES)) == profiles_before
    assert again.firestore_writes == 1  # the run record only


def test_changed_data_exits_and_enters_and_rewrites_only_the_changed_profiles(
    services: Services,
) -> None:
    s = services
    sql_of(s).people = [person("p1", "churn_risk"), person("p2", "direct_deposit"), person("p3")]
    run_audiences(s, defs=DEFS)
    assert isinstance(s.publisher, InMemoryPublisher)
    s.publisher.messages.clear()
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(3600)
    sql_of(s).people = [person("p1"), person("p2", "direct_deposit"), person("p3", "churn_risk")]
    report = run_audiences(s, defs=DEFS)
    assert (report.entered, report.exited) == ({"churn_risk": 1}, {"churn_risk": 1})
    assert sorted(tracks(s)) == [(ENTERED_EVENT, "churn_risk", "u-p3"),
                                 (EXITED_EVENT, "churn_risk", "u-p1")]  # fmt: skip
    assert report.profiles_written == 2
    assert (s.documents.get(PROFILES, "p1") or {})[AUDIENCES] == {}
    identifies = {e["userId"]: e["traits"] for e in published(s) if e["type"] == "identify"}
    assert identifies == {"u-p1": {"churn_risk": False}, "u-p3": {"churn_risk": True}}


def test_an_as_of_run_stores_memberships_at_that_time_and_emits_nothing(
    services: Services,
) -> None:
    s = services
    past = datetime(2026, 2, 1, tzinfo=UTC)
    sql_of(s).people = [person("p1", "direct_deposit")]
    report = run_audiences(s, as_of=past, defs=DEFS)
    assert not report.emitted and report.as_of == "2026-02-01T00:00:00.000Z"
    assert (report.events_emitted, report.profiles_written, report.state_rows) == (0, 0, 0)
    assert sql_of(s).calls[0] == {"as_of": past}  # no state refresh, no state in the run
    [row] = transitions(s)
    assert (row["transition"], row["at"], row["run_id"]) == ("entered", past, report.run_id)
    assert published(s) == []
    assert AUDIENCES not in (s.documents.get(PROFILES, "p1") or {})
    assert s.documents.get(FINGERPRINTS, "00") is None


def test_as_of_runs_are_refused_only_in_the_future_and_any_order_works(services: Services) -> None:
    s = services
    with pytest.raises(AsOfRefused, match="future"):
        run_audiences(s, as_of=NOW + timedelta(hours=1), defs=DEFS)
    sql_of(s).people = [person("p1", "direct_deposit")]
    run_audiences(s, defs=DEFS)  # an hourly run first
    for day in (2, 1, 2):  # then past moments, out of order, one twice
        report = run_audiences(s, as_of=datetime(2026, 2, day, tzinfo=UTC), defs=DEFS)
        assert report.entered == {"direct_deposit": 1} and report.exited == {}
    lineages = {r["run_id"] for r in transitions(s)}
    assert lineages == {"run-20260310T123015.000Z", "as-of-20260201T000000.000Z",
                        "as-of-20260202T000000.000Z"}  # fmt: skip
    assert len(transitions(s)) == 3  # the repeated as-of run stored the same ids again
    assert len({r["transition_id"] for r in transitions(s)}) == 3


def test_as_of_lineages_never_move_the_present_runs_memberships(services: Services) -> None:
    s = services
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2", "churn_risk")]
    past = run_audiences(s, as_of=datetime(2026, 2, 1, tzinfo=UTC), defs=DEFS)
    assert current_lineage(s.documents) == past.run_id
    assert sql_of(s).open_memberships(past.run_id) != []
    first = run_audiences(s, defs=DEFS)  # the as-of run's members are announced all the same
    assert current_lineage(s.documents) == "present"
    assert sorted(tracks(s)) == [(ENTERED_EVENT, "churn_risk", "u-p2"),
                                 (ENTERED_EVENT, "direct_deposit", "u-p1")]  # fmt: skip
    assert first.entered == {"churn_risk": 1, "direct_deposit": 1}
    sql_of(s).people = [person("p3", "direct_deposit")]  # a past moment: p3 alone, p1 not yet
    run_audiences(s, as_of=datetime(2026, 1, 1, tzinfo=UTC), defs=DEFS)
    assert isinstance(s.publisher, InMemoryPublisher)
    s.publisher.messages.clear()
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(3600)
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2", "churn_risk")]
    again = run_audiences(s, defs=DEFS)  # nobody exits: the past snapshot is not the present
    assert (again.entered, again.exited, again.events_emitted) == ({}, {}, 0)
    assert sorted((m["audience_key"], m["profile_id"]) for m in sql_of(s).open_memberships()) == [
        ("churn_risk", "p2"), ("direct_deposit", "p1")]  # fmt: skip


def test_a_suppressed_person_exits_as_deleted_silently(services: Services) -> None:
    s = services
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2", "direct_deposit")]
    run_audiences(s, defs=DEFS)
    listed = SuppressionList(s.documents, s.settings.pii_hash_key)
    listed.add(listed.hashes([Identifier("user_id", "u-p1")]), "req-1", "2026-03-10T12:31:00Z")
    assert isinstance(s.publisher, InMemoryPublisher)
    s.publisher.messages.clear()
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(3600)
    fresh = bootstrap(s.settings, clock=s.clock, publisher=s.publisher, documents=s.documents,
                      warehouse=s.warehouse, sql=s.sql, http=s.http)  # fmt: skip
    report = run_audiences(fresh, defs=DEFS)
    assert report.sizes == {"churn_risk": 0, "direct_deposit": 1}
    assert report.exited == {"direct_deposit": 1} and report.events_emitted == 0
    assert [(r["profile_id"], r["transition"], r["reason"]) for r in transitions(s)][-1] == (
        "p1", "exited", DELETED
    )  # fmt: skip
    assert published(s) == []


def test_a_merge_moves_the_membership_without_an_event(services: Services) -> None:
    s = services
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2")]
    run_audiences(s, defs=DEFS)
    s.documents.set(PROFILES, "p1", forwarding("p1", "p2", "2026-03-10T12:40:00.000Z", "m1"))
    assert isinstance(s.publisher, InMemoryPublisher)
    s.publisher.messages.clear()
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(3600)
    sql_of(s).people = [person("p2", "direct_deposit")]
    report = run_audiences(s, defs=DEFS)
    assert (report.entered, report.exited, report.events_emitted) == ({}, {}, 0)
    moved = [(r["profile_id"], r["transition"], r["reason"]) for r in transitions(s)][-2:]
    assert moved == [("p1", "exited", MERGED), ("p2", "entered", MERGED)]
    assert (s.documents.get(PROFILES, "p2") or {})[AUDIENCES].keys() == {"direct_deposit"}
    assert s.documents.get(PROFILES, "p1") == forwarding(
        "p1", "p2", "2026-03-10T12:40:00.000Z", "m1"
    )


def test_the_state_is_refreshed_from_its_watermark(services: Services) -> None:
    s = services
    run_audiences(s, defs=DEFS)
    assert isinstance(s.clock, FakeClock)
    s.clock.advance(1800)  # 13:00:15: 13:00 is not settled yet
    run_audiences(s, defs=DEFS)
    s.clock.advance(600)  # 13:10:15: not yet (a row may show 10 minutes after its loaded_at)
    run_audiences(s, defs=DEFS)
    s.clock.advance(300)  # 13:15:15
    run_audiences(s, defs=DEFS)
    refreshes = [c for c in sql_of(s).calls if "from" in c]
    assert [(c["from"].hour, c["until"].hour) for c in refreshes] == [(0, 12), (12, 13)]


def test_the_job_runs_the_shipped_definitions_and_records_the_run(services: Services) -> None:
    found = run_job("audiences", services)
    assert found["job"] == "audiences" and found["emitted"] is True
    assert (services.documents.get(RUNS, LATEST) or {})["run_id"] == found["run_id"]


def test_state_rows_the_table_refuses_stop_the_run_before_the_watermark_moves(
    services: Services,
) -> None:
    s = services
    sql_of(s).state = [{**STATE_ROW, "unknown_column": 1}]
    with pytest.raises(StateRefused, match="no such field"):
        run_audiences(s, defs=DEFS)
    assert s.documents.get(RUNS, STATE) is None and transitions(s) == []


def test_a_person_is_suppressed_by_any_of_their_identifiers(services: Services) -> None:
    s = services
    listed = SuppressionList(s.documents, s.settings.pii_hash_key)
    listed.add(listed.hashes([Identifier("anonymous_id", "device-9")]), "req-1", "2026-03-10Z")
    listed.add(listed.hashes([Identifier("user_id", "old-id")]), "req-2", "2026-03-10Z")
    sql_of(s).identifiers = [
        {"profile_id": "p1", "identifier_type": "user_id", "identifier_value": "u-p1"},
        {"profile_id": "p1", "identifier_type": "anonymous_id", "identifier_value": "device-9"},
        {"profile_id": "p2", "identifier_type": "user_id", "identifier_value": "u-p2"},
        {"profile_id": "p2", "identifier_type": "user_id", "identifier_value": "old-id"},
        {"profile_id": "p3", "identifier_type": "anonymous_id", "identifier_value": "device-3"},
    ]
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2", "direct_deposit"),
                        person("p3", "direct_deposit")]  # fmt: skip
    report = run_audiences(s, defs=DEFS)
    assert report.sizes == {"churn_risk": 0, "direct_deposit": 1}
    assert tracks(s) == [(ENTERED_EVENT, "direct_deposit", "u-p3")]


def test_a_run_stopped_after_announcing_is_redone_at_its_as_of_next_time(
    services: Services,
) -> None:
    s = services
    assert isinstance(s.warehouse, CrashingWarehouse) and isinstance(s.clock, FakeClock)
    sql_of(s).people = [person("p1", "direct_deposit"), person("p2", "churn_risk")]
    s.warehouse.crashes = 1
    with pytest.raises(ConnectionError):
        run_audiences(s, defs=DEFS)
    sent = [e["messageId"] for e in published(s)]
    assert len(sent) == 4 and transitions(s) == []
    assert s.documents.get(RUNS, PENDING) == {"as_of": "2026-03-10T12:30:15.000Z",
                                              "run_id": "run-20260310T123015.000Z"}  # fmt: skip
    assert isinstance(s.publisher, InMemoryPublisher)
    s.publisher.messages.clear()
    s.clock.advance(3600)
    # the job runs again in a new instance (ingest's recent-id window is per instance)
    s = bootstrap(s.settings, clock=s.clock, publisher=s.publisher, documents=s.documents,
                  warehouse=s.warehouse, sql=s.sql, http=s.http)  # fmt: skip
    redo = run_audiences(s, defs=DEFS)
    assert redo.redo and (redo.as_of, redo.run_id) == ("2026-03-10T12:30:15.000Z",
                                                       "run-20260310T123015.000Z")  # fmt: skip
    assert [e["messageId"] for e in published(s)] == sent  # the same ids: deduplicated downstream
    assert {r["transition_id"] for r in transitions(s)} == set(sent[::2])
    assert {r["at"] for r in transitions(s)} == {NOW.replace(microsecond=0)}
    p1 = s.documents.get(PROFILES, "p1") or {}
    assert p1[AUDIENCES] == {"direct_deposit": {"entered_at": "2026-03-10T12:30:15.000Z"}}
    assert s.documents.get(RUNS, PENDING) is None
    s.publisher.messages.clear()
    s.clock.advance(3600)
    fresh = run_audiences(s, defs=DEFS)  # the next schedule: a fresh run, nothing changed
    assert not fresh.redo and fresh.as_of == "2026-03-10T14:30:15.000Z"
    assert (fresh.events_emitted, fresh.transitions, published(s)) == (0, 0, [])


def test_a_removed_audience_exits_its_members_once_and_announces_it(services: Services) -> None:
    s = services
    sql_of(s).people = [person("p1", "direct_deposit", "churn_risk"), person("p2", "churn_risk")]
    run_audiences(s, defs=DEFS)
    fewer = DEFS.model_copy(update={"audiences": {"churn_risk": DEFS.audiences["churn_risk"]}})
    assert isinstance(s.publisher, InMemoryPublisher) and isinstance(s.clock, FakeClock)
    s.publisher.messages.clear()
    s.clock.advance(3600)
    sql_of(s).people = [person("p1", "churn_risk"), person("p2", "churn_risk")]
    report = run_audiences(s, defs=fewer)
    assert report.exited == {"direct_deposit": 1} and report.sizes == {"churn_risk": 2}
    assert tracks(s) == [(EXITED_EVENT, "direct_deposit", "u-p1")]
    identify = next(e for e in published(s) if e["type"] == "identify")
    assert (identify["userId"], identify["traits"]) == ("u-p1", {"direct_deposit": False})
    last = transitions(s)[-1]
    assert (last["audience_key"], last["profile_id"], last["transition"], last["reason"]) == (
        "direct_deposit", "p1", "exited", REMOVED)  # fmt: skip
    assert (s.documents.get(PROFILES, "p1") or {})[AUDIENCES].keys() == {"churn_risk"}
    s.publisher.messages.clear()
    s.clock.advance(3600)
    again = run_audiences(s, defs=fewer)
    assert (again.exited, again.events_emitted, published(s)) == ({}, 0, [])
