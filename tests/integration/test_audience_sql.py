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
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.audiences.compiler import compile_run, compile_state, state_keys
from shared.audiences.definitions import Definitions, load_definitions
from shared.audiences.sql_parts import text
from shared.audiences.state import refresh_state
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.ingest.events import iso
from shared.local.emulators import EmulatorPorts
from shared.ports.documents import InMemoryDocumentStore
from shared.settings import Settings
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    PROCESSED,
    RAW,
    USERS_TABLE,
)
from tests.conftest import PROJECT
from tests.integration.audience_histories import (
    COVERAGE,
    FIRST_STATE,
    LOADS,
    LONG,
    PAST,
    SOURCES,
    STATE_UNTIL,
    TABLES,
    Answers,
    D,
    Population,
    S,
    T,
    build,
    extended,
    redefine,
    users,
)
from tests.integration.test_warehouse_loader import services_for, shared_prefix

pytestmark = pytest.mark.integration


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
        (f"{name(PROCESSED)}.{USERS_TABLE}", users(population)),
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
    redefined = redefine(defs)
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

    queried = {
        "full": run(defs, T, False),
        "state": run(defs, T, True),
        "past": run(shipped, PAST, False),
        "coverage": run(coverage, T, False),
        "state_rows": state,
        "state_again": again,
        "redefined_full": run(redefined, T, False),
        "redefined_state": run(redefined, T, True),
    }
    return Answers(population, expected, queried)


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
