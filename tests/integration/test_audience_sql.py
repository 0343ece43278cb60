"""The compiled audience SQL on the BigQuery emulator, over hand-built histories whose
memberships are known: each of the five shipped stages at its edges, a person split over two
devices and merged later, sessions (30 minutes exactly is one session), server and audience
events and SQL-source identifies making no session, a past as-of, and the state-table path equal
to the full-history one, also for what the loader does to it: an event loaded hours after it was
received, a message loaded twice, a merge between two computations of the same hour, an event
stamped after as-of; a trait redefined under its name (the refresh back-fills its new key);
"NaN"/"inf" amounts, capped lists and values, and literals with control characters.

One population, one set of tables, few queries (each costs the emulator seconds): the module's
fixture loads every row once and runs each query once; the tests read its answers per person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.audiences.compiler import compile_run, compile_state, state_keys
from shared.audiences.definitions import Definitions, load_definitions, parse_definitions
from shared.audiences.sql_parts import text
from shared.audiences.state import refresh_state
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.ingest.events import iso
from shared.local.emulators import EmulatorPorts
from shared.ports.documents import InMemoryDocumentStore
from shared.settings import Settings, Source
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
    USERS_TABLE,
)
from shared.warehouse.rows import event_row, to_json
from tests.conftest import PROJECT
from tests.integration.test_warehouse_loader import services_for, shared_prefix

pytestmark = pytest.mark.integration

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the run's as-of
PAST = T - timedelta(days=10)  # a historical --as-of
STATE_UNTIL = T - timedelta(hours=2)  # hours before it are in the state table
FIRST_STATE = T - timedelta(days=5)  # a first refresh up to here, before later loads
D, S = timedelta(days=1), timedelta(seconds=1)
COVERAGE = Path(__file__).parents[1] / "fixtures" / "audiences" / "coverage.yaml"
TABLES = (
    f"{RAW}.{EVENTS_TABLE}",
    f"{RAW}.{COLD_ARCHIVE_TABLE}",
    f"{PROCESSED}.{IDENTITY_ASSIGNMENTS_TABLE}",
    f"{PROCESSED}.{TRAIT_STATE_TABLE}",
    f"{PROCESSED}.{USERS_TABLE}",
    f"{CURATED}.{IDENTITY_MAP_VIEW}",
)
SOURCES = [
    Source(id="web", name="Web", kind="web", write_key_sha256=""),
    Source(id="backend", name="Backend", kind="server", write_key_sha256=""),
]


@dataclass
class Population:
    """Events and identity assignments, built per person."""

    run: str  # a prefix for this module's ids
    events: list[dict[str, Any]] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    later: list[dict[str, Any]] = field(default_factory=list)  # assignments after the state

    def pid(self, person: str) -> str:
        return f"{self.run}-p-{person}"

    def person(self, name: str, *, user: bool = True, devices: int = 1) -> None:
        ids = [("anonymous_id", f"{self.run}-a-{name}-{d}") for d in range(devices)]
        ids += [("user_id", f"{self.run}-u-{name}")] if user else []
        for kind, value in ids:
            self.assign(self.pid(name), kind, value, T - 400 * D, self.assignments)

    def assign(
        self, profile: str, kind: str, value: str, at: datetime, into: list[dict[str, Any]]
    ) -> None:
        change = f"{self.run}-c-{len(self.assignments) + len(self.later)}"
        into.append({
            "assignment_id": f"{change}:{kind}:{value}", "change_id": change,
            "change": "created", "identifier_type": kind, "identifier_value": value,
            "profile_id": profile, "valid_from": at.isoformat(), "recorded_at": at.isoformat(),
        })  # fmt: skip

    def event(
        self,
        name: str,
        event: str | None,
        at: datetime,
        *,
        device: int | None = None,  # None: sent with the userId; else that device's anonymousId
        source: str = "web",
        received: datetime | None = None,
        loaded: datetime | None = None,  # None: a second after it was received
        cold: bool = False,
        message_id: str | None = None,
        **properties: Any,
    ) -> str:
        mid = message_id or f"{self.run}-m-{len(self.events) + len(self.cold)}"
        payload = {
            "type": "track" if event else "page", "event": event, "messageId": mid,
            "userId": None if device is not None else f"{self.run}-u-{name}",
            "anonymousId": f"{self.run}-a-{name}-{device or 0}", "sourceId": source,
            "timestamp": at.isoformat(), "receivedAt": (received or at + 60 * S).isoformat(),
            "properties": properties,
        }  # fmt: skip
        when = loaded or (received or at + 60 * S) + S
        (self.cold if cold else self.events).append(event_row(payload, when.isoformat()))
        return mid


def build(p: Population) -> dict[str, set[str]]:
    """The histories; returns who is in each audience at ``T``, by hand."""
    for name in ("ai_exact", "ai_plus", "ai_linked", "later"):
        p.person(name)
    p.event("ai_exact", "account_created", T - 7 * D)  # exactly 7 days: not before
    p.event("ai_plus", "account_created", T - 7 * D - S)
    p.event("ai_linked", "account_created", T - 10 * D)
    p.event("ai_linked", "bank_account_linked", T - 9 * D)
    # Created 20 days ago, linked 5 days ago (received after the state): at PAST not yet linked.
    p.event("later", "account_created", T - 20 * D)
    p.event("later", "bank_account_linked", T - 5 * D, received=T - 30 * 60 * S)

    for name in ("fd_yes", "fd_edge", "fd_no"):
        p.person(name)
        p.event(name, "bank_account_linked", T - 40 * D, source="backend")
    p.event("fd_yes", "transaction_initiated", T - 31 * D, amount=5)
    p.event("fd_edge", "transaction_initiated", T - 30 * D, amount=5)  # on the edge: outside
    p.event("fd_no", "transaction_initiated", T - 29 * D, amount=5)

    for name in ("ac_3", "ac_edge", "ac_2"):
        p.person(name)
        p.event(name, "transaction_completed", T - D, amount=100.5, type="deposit", method="ach")
        p.event(name, "transaction_completed", T - 2 * D, amount=50, type="card", method="pos")
    p.event("ac_3", "transaction_completed", T - 30 * D + S, amount=25.25, type="deposit",
            method="wire")  # fmt: skip
    p.event("ac_edge", "transaction_completed", T - 30 * D, amount=7, type="card", method="atm")
    p.person("dup")
    dup = p.event("dup", "transaction_completed", T - 3 * D, amount=1, type="x", method="ach")
    # The same message in the cold archive too (a promoted person's back-fill): counted once.
    p.event("dup", "transaction_completed", T - 3 * D, cold=True, message_id=dup, device=0,
            amount=1, type="x", method="ach")  # fmt: skip

    # Two devices, two profiles at first; merged after the state was computed.
    p.person("split", devices=1)
    p.assign(f"{p.pid('split')}-2", "anonymous_id", f"{p.run}-a-split-1", T - 400 * D,
             p.assignments)  # fmt: skip
    p.assign(p.pid("split"), "anonymous_id", f"{p.run}-a-split-1", T - 3 * 60 * S, p.later)
    p.event("split", "transaction_completed", T - 4 * D, device=0, amount=10, method="ach")
    p.event("split", "transaction_completed", T - 5 * D, device=0, amount=10, method="ach")
    p.event("split", "transaction_completed", T - 6 * D, device=1, amount=10, method="card")

    p.person("dd")
    p.event("dd", "direct_deposit_enabled", T - 200 * D, source="backend")

    _loads(p)
    _churn(p)
    _values(p)
    return {
        "activated_incomplete": {"ai_plus"},
        "funded_dormant": {"ai_linked", "later", "fd_yes", "fd_edge"},
        "active_core": {"ac_3", "split"},
        "direct_deposit": {"dd"},
        "churn_risk": {"cr_yes", "cr_gap31", "cr_recent_yes", "cr_sql"},
    }


LONG = "y" * 1500


def _values(p: Population) -> None:
    """Amounts BigQuery would read as NaN and infinity; more distinct values than a list keeps
    and a value longer than a trait keeps (40 days ago: all time only, in no audience)."""
    p.person("nan")
    for amount, ago in (("NaN", D), (5, D), ("inf", 35 * D), ("-Infinity", 35 * D)):
        p.event("nan", "transaction_completed", T - ago, amount=amount, type="x", method="x")
    p.person("many")
    for i in range(101):
        p.event("many", "transaction_completed", T - 40 * D, type=LONG, method=f"m{i:03}")
    p.event("many", "transaction_completed", T - 40 * D, type="short", method="z" * 1500)


LOADS = ("late", "retry", "retry_tail", "redelivered", "newcomer", "ahead")


def _loads(p: Population) -> None:
    """What the loader does to the state: each person has all-time amounts of 40 (``ALL_TIME``)
    and should count each message once, as the full history does."""
    for name in LOADS:
        p.person(name, user=name != "newcomer")
    # Received 6 days ago, loaded a day later (the loader retried): after the first refresh.
    p.event("late", "transaction_completed", T - 6 * D, amount=40, loaded=T - 5 * D + 7200 * S)
    # One message received twice (an SDK retry reaching another instance), 3 days apart: in
    # two refreshes; then in the state and in the raw rows since.
    twice = p.event("retry", "transaction_completed", T - 8 * D, amount=40)
    p.event("retry", "transaction_completed", T - 8 * D, amount=40, message_id=twice,
            received=T - 5 * D + 3 * 3600 * S)  # fmt: skip
    twice = p.event("retry_tail", "transaction_completed", T - 3 * D, amount=40)
    p.event("retry_tail", "transaction_completed", T - 3 * D, amount=40, message_id=twice,
            received=T - 3600 * S)  # fmt: skip
    # A Pub/Sub redelivery (the same receipt) loaded again two hours later, and in the same hour.
    again = p.event("redelivered", "transaction_completed", T - 9 * D, amount=40)
    for loaded in (T - 9 * D + 2 * 3600 * S, T - 9 * D + 120 * S):
        p.event("redelivered", "transaction_completed", T - 9 * D, amount=40, message_id=again,
                loaded=loaded)  # fmt: skip
    # Sent with a userId the map has only after the first refresh (a late identify).
    p.event("newcomer", "transaction_completed", T - 7 * D, amount=40)
    p.assign(p.pid("newcomer"), "user_id", f"{p.run}-u-newcomer", T - 3 * 60 * S, p.later)
    # Stamped 3 hours after as-of (ingest allows up to 24 h ahead of receipt): never counts.
    p.event("ahead", "transaction_completed", T - 10 * D, amount=40)
    p.event("ahead", "transaction_completed", T + 3 * 3600 * S, amount=40,
            received=T - 20 * 3600 * S)  # fmt: skip


ALL_TIME = {
    "count_all": {"owner": "t", "description": "d", "event": "transaction_completed",
                  "aggregate": "count"},
    "sum_all": {"owner": "t", "description": "d", "event": "transaction_completed",
                "aggregate": "sum", "property": "amount"},
}  # fmt: skip


def extended() -> Definitions:
    """The shipped definitions and all-time count and sum traits (the shipped ones are last_at,
    most_frequent and unique_list)."""
    shipped = load_definitions().model_dump(by_alias=True, exclude_none=True)
    return parse_definitions({**shipped, "traits": {**shipped["traits"], **ALL_TIME}})


def _sessions(p: Population, name: str, days: list[int], **kwargs: Any) -> None:
    for day in days:
        p.event(name, None, T - day * D, **kwargs)


def _churn(p: Population) -> None:
    names = ["cr_yes", "cr_two", "cr_gap30", "cr_gap31", "cr_server", "cr_txn",
             "cr_recent_yes", "cr_recent_no"]  # fmt: skip
    for name in names:
        p.person(name)
    _sessions(p, "cr_yes", [10, 15], cold=True, device=0)  # anonymous, cold, same person
    _sessions(p, "cr_yes", [20])
    p.event("cr_yes", "transaction_completed", T - 25 * D, amount=600, source="backend")
    _sessions(p, "cr_two", [10, 20])
    for name, gap in (("cr_gap30", 30 * 60 * S), ("cr_gap31", 30 * 60 * S + S)):
        _sessions(p, name, [15])
        p.event(name, None, T - 20 * D)
        p.event(name, None, T - 20 * D + gap)  # 30 min: the same session; 30 min 1 s: a new one
    _sessions(p, "cr_server", [10, 20])
    p.event("cr_server", "kyc_approved", T - 15 * D, source="backend")  # server: no session
    p.event("cr_server", "Audience Entered", T - 12 * D, source="audiences")  # ours: nothing
    _sessions(p, "cr_txn", [10, 15, 20])
    p.event("cr_txn", "transaction_completed", T - 20 * D - 3 * 60 * 60 * S, source="backend")
    _sessions(p, "cr_recent_yes", [1, *range(8, 35, 3)])  # 1 recent, 9 prior: 1/7 < 0.5 x 9/30
    _sessions(p, "cr_recent_no", [1, *range(8, 32, 3)])  # 1 recent, 8 prior: 1/7 > 0.5 x 8/30
    # Three sessions before, none since: identifies of a SQL source and of ours start none.
    p.person("cr_sql")
    _sessions(p, "cr_sql", [10, 15, 20])
    p.event("cr_sql", None, T - 2 * D, source="sql-balances")
    p.event("cr_sql", None, T - 3 * D, source="audiences")


@dataclass
class Answers:
    population: Population
    expected: dict[str, set[str]]
    rows: dict[str, list[dict[str, Any]]]  # query name → rows

    def by_person(self, query: str) -> dict[str, dict[str, Any]]:
        prefix = f"{self.population.run}-p-"
        return {
            r["profile_id"].removeprefix(prefix): r
            for r in self.rows[query]
            if r["profile_id"].startswith(prefix)
        }

    def members(self, query: str, audience: str) -> set[str]:
        return {n for n, r in self.by_person(query).items() if r[f"a_{audience}"]}


@pytest.fixture(scope="module")
def answers(emulators: EmulatorPorts) -> Answers:
    prefix = shared_prefix(emulators, *TABLES)
    bigquery = BigQueryWarehouse(PROJECT, "EU", f"http://127.0.0.1:{emulators.bigquery}")
    sql = services_for(bigquery, prefix).sql
    settings = Settings(project_id=PROJECT, dataset_prefix=f"it_{prefix}", sources=SOURCES)
    population = Population(uuid.uuid4().hex[:8])
    expected = build(population)
    name = settings.dataset
    first = [r for r in population.events if r["loaded_at"] < FIRST_STATE.isoformat()]
    cold_first = [r for r in population.cold if r["loaded_at"] < FIRST_STATE.isoformat()]
    for table, rows in (
        (f"{name(RAW)}.{EVENTS_TABLE}", first),
        (f"{name(RAW)}.{COLD_ARCHIVE_TABLE}", cold_first),
        (f"{name(PROCESSED)}.{IDENTITY_ASSIGNMENTS_TABLE}", population.assignments),
        (f"{name(PROCESSED)}.{USERS_TABLE}", _users(population)),
    ):
        assert bigquery.insert_rows(table, rows, [str(uuid.uuid4()) for _ in rows]) == []
    shipped, coverage, defs = load_definitions(), load_definitions(COVERAGE), extended()
    state_sql = compile_state(defs, settings)
    state = sql.query(state_sql, {"from": T - 500 * D, "until": FIRST_STATE})
    assert state, "the all-time aggregates have state rows"
    # Then what was loaded after the first refresh, and a second refresh.
    for table, rows, before in (
        (f"{name(RAW)}.{EVENTS_TABLE}", population.events, first),
        (f"{name(RAW)}.{COLD_ARCHIVE_TABLE}", population.cold, cold_first),
    ):
        rest = [r for r in rows if r not in before]
        assert bigquery.insert_rows(table, rest, [str(uuid.uuid4()) for _ in rest]) == []
    state += sql.query(state_sql, {"from": FIRST_STATE, "until": STATE_UNTIL})
    state_table = f"{name(PROCESSED)}.{TRAIT_STATE_TABLE}"
    assert bigquery.insert_rows(state_table, state, [r["state_id"] for r in state]) == []
    later = population.later  # merges and an identify after the state was computed
    table = f"{name(PROCESSED)}.{IDENTITY_ASSIGNMENTS_TABLE}"
    assert bigquery.insert_rows(table, later, [r["assignment_id"] for r in later]) == []
    again = sql.query(state_sql, {"from": T - 500 * D, "until": FIRST_STATE})
    # transaction_methods redefined under its name: the refresh back-fills its new key alone.
    redefined = _redefined(defs)
    watermark = {"state_until": iso(STATE_UNTIL), "keys": state_keys(defs)}
    documents = InMemoryDocumentStore()
    documents.set("audience_runs", "state", watermark)
    backfill = refresh_state(
        settings, sql, bigquery, documents, compile_state(redefined, settings),
        STATE_UNTIL + timedelta(minutes=20), keys=state_keys(redefined),
    )  # fmt: skip
    assert backfill.state_until == STATE_UNTIL and backfill.rows > 0
    literal = "tab\there\r\nline\u2028\x1b'\\"
    [echo] = sql.query(f"SELECT {text(literal)} AS v")
    assert echo["v"] == literal  # the escapes read back as the text itself

    def run(defs: Definitions, as_of: datetime, use_state: bool) -> list[dict[str, Any]]:
        params = {"as_of": as_of, **({"state_until": STATE_UNTIL} if use_state else {})}
        return sql.query(compile_run(defs, settings, use_state=use_state), params)

    rows = {
        "full": run(defs, T, False),
        "state": run(defs, T, True),
        "past": run(shipped, PAST, False),
        "coverage": run(coverage, T, False),
        "state_rows": state,
        "state_again": again,
        "redefined_full": run(redefined, T, False),
        "redefined_state": run(redefined, T, True),
    }
    return Answers(population, expected, rows)


def _redefined(defs: Definitions) -> Definitions:
    data = defs.model_dump(by_alias=True, exclude_none=True)
    methods = {**data["traits"]["transaction_methods"], "property": "type"}
    return parse_definitions({**data, "traits": {**data["traits"], "transaction_methods": methods}})


def _users(p: Population) -> list[dict[str, Any]]:
    at = (T - 100 * D).isoformat()
    return [
        {"user_id": f"{p.run}-u-{name}", "traits": to_json(traits), "first_seen_at": at,
         "updated_at": at, "refreshed_at": at}
        for name, traits in (("ac_3", {"plan": "pro", "age": 41}), ("ac_2", {"plan": "free"}))
    ]  # fmt: skip


@pytest.mark.parametrize(
    "audience",
    ["activated_incomplete", "funded_dormant", "active_core", "direct_deposit", "churn_risk"],
)
def test_each_stage_has_exactly_its_known_members(answers: Answers, audience: str) -> None:
    assert answers.members("full", audience) == answers.expected[audience]


def test_one_row_per_profile_with_its_ids(answers: Answers) -> None:
    rows = answers.by_person("full")
    assert len(rows) == len([r for r in answers.rows["full"] if "-p-" in r["profile_id"]])
    run = answers.population.run
    assert rows["ai_plus"]["user_id"] == f"{run}-u-ai_plus"
    assert rows["ai_plus"]["anonymous_id"] is None  # only for people without a userId
    assert "split-2" not in rows  # merged: its events count for the surviving profile


def test_the_split_person_counts_over_both_devices(answers: Answers) -> None:
    split = answers.by_person("full")["split"]
    assert split["t_transactions_30d"] == 3
    assert split["t_transaction_volume_30d"] == 30.0
    assert split["t_transaction_methods"] == ["ach", "card"]


def test_computed_traits_of_a_known_history(answers: Answers) -> None:
    rows = answers.by_person("full")
    ac3 = rows["ac_3"]
    assert ac3["t_transactions_30d"] == 3
    assert ac3["t_transaction_volume_30d"] == 175.75
    assert ac3["t_favourite_transaction_type"] == "deposit"  # 2 deposits, 1 card
    assert ac3["t_transaction_methods"] == ["ach", "pos", "wire"]
    assert ac3["t_last_transaction_at"] == T - D
    assert ac3["t_account_created_at"] is None
    edge = rows["ac_edge"]  # the card on the window's edge is out of 30 days, in all time
    assert (edge["t_transactions_30d"], edge["t_favourite_transaction_type"]) == (2, "card")
    assert rows["ac_2"]["t_transactions_30d"] == 2
    assert rows["dup"]["t_transactions_30d"] == 1  # one message in both tables: once
    assert rows["ai_plus"]["t_account_created_at"] == T - 7 * D - S
    assert rows["cr_yes"]["t_transaction_volume_30d"] == 600.0  # for the high-value cut
    assert rows["dd"]["t_transactions_30d"] is None  # no event: NULL


def test_the_state_path_gives_the_same_rows(answers: Answers) -> None:
    def key(r: dict[str, Any]) -> str:
        return str(r["profile_id"])

    assert sorted(answers.rows["state"], key=key) == sorted(answers.rows["full"], key=key)
    kinds = {r["identifier_type"] for r in answers.rows["state_rows"]}
    assert kinds == {"user_id", "anonymous_id"}  # identifiers, resolved again at each run


@pytest.mark.parametrize("query", ["full", "state"])
@pytest.mark.parametrize("name", LOADS)
def test_each_message_counts_once_however_it_was_loaded(
    answers: Answers, query: str, name: str
) -> None:
    row = answers.by_person(query)[name]
    assert (row["t_count_all"], row["t_sum_all"]) == (1, 40.0)


def test_a_trait_redefined_under_its_name_counts_only_its_new_definition(
    answers: Answers,
) -> None:
    def key(r: dict[str, Any]) -> str:
        return str(r["profile_id"])

    full, state = answers.rows["redefined_full"], answers.rows["redefined_state"]
    assert sorted(state, key=key) == sorted(full, key=key)
    ac3 = {r["profile_id"]: r for r in state}[answers.population.pid("ac_3")]
    assert ac3["t_transaction_methods"] == ["card", "deposit"]  # types, no methods left


def test_non_finite_amounts_are_no_amount(answers: Answers) -> None:
    for query in ("full", "state"):
        row = answers.by_person(query)["nan"]
        assert (row["t_transaction_volume_30d"], row["t_sum_all"]) == (5.0, 5.0), query
        assert (row["t_transactions_30d"], row["t_count_all"]) == (2, 4), query


def test_lists_keep_the_smallest_values_and_values_their_first_characters(
    answers: Answers,
) -> None:
    for query in ("full", "state"):
        row = answers.by_person(query)["many"]
        assert row["t_transaction_methods"] == [f"m{i:03}" for i in range(100)], query
        assert row["t_favourite_transaction_type"] == LONG[:1000], query


def test_computing_an_hour_again_after_a_merge_gives_the_same_rows(answers: Answers) -> None:
    def mine(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        run = answers.population.run
        return {r["state_id"]: {k: v for k, v in r.items() if k != "recorded_at"}
                for r in rows if str(r["identifier_value"]).startswith(run)}  # fmt: skip

    first = mine([r for r in answers.rows["state_rows"] if r["loaded_hour"] < FIRST_STATE])
    assert mine(answers.rows["state_again"]) == first
    newcomer = f"{answers.population.run}-u-newcomer"
    assert {r["identifier_type"] for r in first.values() if r["identifier_value"] == newcomer} == {
        "user_id"  # its own userId, though the map did not have it yet
    }


def test_a_past_as_of_ignores_later_events(answers: Answers) -> None:
    rows = answers.by_person("past")
    assert rows["later"]["a_activated_incomplete"]  # linked 5 days ago: after PAST
    assert not rows["later"]["a_funded_dormant"]
    assert "ai_plus" not in rows  # created after PAST: nothing of them yet
    assert rows["ac_3"]["t_transactions_30d"] == 1  # the two of the last days are later
    assert not rows["ac_3"]["a_active_core"]


def test_where_operators_aggregates_and_rule_kinds(answers: Answers) -> None:
    rows = answers.by_person("coverage")
    ac3, edge, split = rows["ac_3"], rows["ac_edge"], rows["split"]
    assert (ac3["t_smallest"], ac3["t_largest_7d"]) == (25.25, 100.5)
    assert (ac3["t_first_method"], ac3["t_last_method"]) == ("wire", "ach")
    assert (ac3["t_method_count"], ac3["t_deposits_30d"], ac3["t_at_least_50"]) == (3, 2, 2)
    assert (ac3["t_not_card"], ac3["t_ach_or_pos"], ac3["t_first_at_30d"]) == (
        2, 2, T - 30 * D + S
    )  # fmt: skip
    assert edge["t_deposits_30d"] == 1 and edge["t_first_at_30d"] == T - 2 * D
    assert rows["fd_yes"]["t_smallest"] is None
    member = {a: {n for n, r in rows.items() if r[f"a_{a}"]} for a in AUDIENCES}
    assert member["big_spender"] == {"ac_3", "ac_edge", "ac_2"}  # max over 7 days >= 100
    assert member["pro"] == {"ac_3"}  # profile trait
    assert member["card_user_first"] == {"ac_edge"}  # a card of 7, 30 days ago
    assert member["card_user_second"] == {"ac_3", "ac_2"}  # big spenders, but exclusive
    assert member["quiet"] == {n for n, r in rows.items() if (r["t_deposits_30d"] or 0) <= 1}
    assert member["lapsed"] == {"fd_yes", "fd_edge", "fd_no", "dd"} & set(rows)
    assert "split" in member["not_pro"] and "ac_3" not in member["not_pro"]
    assert split["a_any_of"] and not rows["dd"]["a_any_of"]


AUDIENCES = ("big_spender", "pro", "not_pro", "card_user_first", "card_user_second", "quiet",
             "lapsed", "any_of")  # fmt: skip
