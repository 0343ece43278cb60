"""The compiler as tables of cases: definition in, SQL fragments out. That the SQL computes the
right members is tested on the emulator (tests/integration/test_audience_sql.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.audiences.compiler import compile_run, compile_state, state_keys
from shared.audiences.definitions import Definitions, load_definitions, parse_definitions
from shared.audiences.sql_parts import (
    compare_text,
    final_aggregate,
    profile_trait_test,
    text,
    trait_test,
    where_sql,
)
from shared.audiences.sql_rules import RuleCompiler
from shared.audiences.sql_specs import event_spec, plan_of, trait_spec
from shared.audiences.sql_state import FIRST_LOADED, STATE_CUT
from shared.audiences.tables import TRAIT_STATE_COLUMNS, audience_tables
from shared.metrics.sessions import sessions_sql
from shared.settings import Settings, Source

SETTINGS = Settings(project_id="p", dataset_prefix="cdp")
EVENTS, STATE = "`p.cdp_raw.events`", "`p.cdp_processed.audience_trait_state`"
COLD = "`p.cdp_raw.cold_archive`"


def defs(traits: dict[str, Any] | None = None, audiences: dict[str, Any] | None = None,
         groups: dict[str, Any] | None = None) -> Definitions:  # fmt: skip
    return parse_definitions({
        "version": 1,
        "traits": {k: {"owner": "t", "description": "d", **v} for k, v in (traits or {}).items()},
        "audiences": {k: {"name": k, "owner": "t", "description": "d", "rule": r}
                      for k, r in (audiences or {}).items()},
        "groups": groups or {},
    })  # fmt: skip


def output_columns(sql: str) -> list[str]:
    """The final SELECT's column names."""
    final = sql[sql.rindex("\nSELECT") :]
    return re.findall(r"(?:AS )?(\w+),?\n", final.split("FROM rules")[0])[1:]


SUM_30D = {"event": "transaction_completed", "aggregate": "sum", "property": "amount",
           "window": "30d"}  # fmt: skip
LAST_ALL = {"event": "transaction_completed", "aggregate": "last_at"}
SESSIONS = {"sessions": {"recent": "7d", "prior": "30d", "min_prior": 3, "below_ratio": 0.5}}


WINDOWED, ALL_TIME = defs({"v": SUM_30D}), defs({"l": LAST_ALL})
WITH_SESSIONS = defs({"v": SUM_30D}, {"c": SESSIONS})


@pytest.mark.parametrize(
    ("definitions", "use_state", "present", "absent"),
    [
        (WINDOWED, True, [
            "received_at >= TIMESTAMP_SUB(@as_of, INTERVAL 31 DAY)",  # a day more: late arrivals
            "timestamp > TIMESTAMP_SUB(@as_of, INTERVAL 30 DAY)", "e.timestamp <= @as_of",
        ], ["@state_until", STATE, "history AS"]),
        (WITH_SESSIONS, False, [
            "INTERVAL 39 DAY)",  # 7 + 30 days, a day of sessions before them, a day of arrival
            "session_start > TIMESTAMP_SUB(@as_of, INTERVAL 7 DAY)",
            "session_start > TIMESTAMP_SUB(@as_of, INTERVAL 37 DAY) AND session_start <= "
            "TIMESTAMP_SUB(@as_of, INTERVAL 7 DAY)",
        ], ["INTERVAL 31 DAY)", "@state_until"]),
        (ALL_TIME, False, ["history AS", "WHERE TRUE"], ["recent AS", "@state_until", STATE]),
        (ALL_TIME, True, ["history AS", "@state_until", STATE], ["recent AS", "WHERE TRUE"]),
    ],
)  # fmt: skip
def test_windows_decide_the_partitions_read(
    definitions: Definitions, use_state: bool, present: list[str], absent: list[str]
) -> None:
    sql = compile_run(definitions, SETTINGS, use_state=use_state)
    for fragment in present:
        assert fragment in sql, fragment
    for fragment in absent:
        assert fragment not in sql, fragment


def test_all_time_aggregates_read_the_state_and_only_the_raw_events_since() -> None:
    definitions = defs({"l": LAST_ALL, "v": SUM_30D})
    sql = compile_run(definitions, SETTINGS, use_state=True)
    assert f"FROM {STATE}" in sql
    [key] = state_keys(definitions)  # the all-time trait's, a hash of what it aggregates
    assert f"loaded_hour < {STATE_CUT} AND trait_key IN ('{key}')" in sql
    assert "PARTITION BY state_id ORDER BY recorded_at" in sql  # reads dedupe by state_id
    # The raw rows first loaded since the cut, from the partitions that can hold them.
    since = f"received_at >= TIMESTAMP_SUB({STATE_CUT}, INTERVAL 7 DAY)"
    assert f"FROM {EVENTS} WHERE {since}" in sql and f"FROM {COLD} WHERE {since}" in sql
    assert f"WHERE loaded_at >= {STATE_CUT}) AS e" in sql
    full = compile_run(definitions, SETTINGS, use_state=False)
    assert STATE not in full and f"FROM {EVENTS} WHERE TRUE" in full  # the whole history
    assert "loaded_at >=" not in full


def test_the_state_is_read_only_where_no_event_can_be_after_as_of() -> None:
    # Ingest stamps at most 24 h ahead of arrival: below as-of minus 25 h nothing is later.
    sql = compile_run(defs({"l": LAST_ALL}), SETTINGS, use_state=True)
    cut = "TIMESTAMP_TRUNC(LEAST(@state_until, TIMESTAMP_SUB(@as_of, INTERVAL 25 HOUR)), HOUR)"
    assert f"WHERE loaded_hour < {cut} AND" in sql and f"WHERE loaded_at >= {cut})" in sql
    history = sql[sql.index("history AS (") : sql.index("state_facts AS (")]
    assert "e.timestamp <= @as_of" in history


@pytest.mark.parametrize(
    ("what", "fragment"),
    [
        ("bucketed by the hour loaded", "TIMESTAMP_TRUNC(loaded_at, HOUR) AS loaded_hour"),
        ("the messages loaded in the span", "WHERE loaded_at >= @from AND loaded_at < @until"),
        ("late loads found: 7 days of partitions",
         "WHERE received_at >= TIMESTAMP_SUB(@from, INTERVAL 7 DAY)"),
        ("a message counts where first loaded", f"QUALIFY ROW_NUMBER() OVER ({FIRST_LOADED}) = 1"),
        ("the engaged copy before the cold one", f"0 AS copy_order FROM {EVENTS}"),
        ("", f"1 AS copy_order FROM {COLD}"),
        ("the event's own identifier", "IF(user_id IS NOT NULL, 'user_id', 'anonymous_id')"),
        ("", "COALESCE(user_id, anonymous_id) AS identifier_value"),
        ("its anonymousId kept for the run", "identifier_value, anonymous_id, loaded_hour"),
        ("", "IFNULL(CONCAT('=', anonymous_id), '')"),
    ],
)  # fmt: skip
def test_the_state_counts_each_message_once_where_it_was_first_loaded(
    what: str, fragment: str
) -> None:
    assert fragment in compile_state(load_definitions(), SETTINGS), what


def test_the_state_never_reads_the_identity_map_and_runs_resolve_it_with_a_fallback() -> None:
    state = compile_state(load_definitions(), SETTINGS)
    assert "identity_map" not in state and "received_at < @until" not in state
    # The first copy is chosen among all copies, then kept if it was loaded in the span.
    assert state.index(f"OVER ({FIRST_LOADED})") < state.index("WHERE loaded_at >= @from")
    run = compile_run(load_definitions(), SETTINGS, use_state=True)
    for fragment in (
        "COALESCE(u.profile_id, a.profile_id) AS profile_id, s.value",
        "ON s.identifier_type = 'user_id' AND u.identifier_type = 'user_id'",
        "a.identifier_type = 'anonymous_id' AND a.identifier_value = s.anonymous_id",
    ):
        assert fragment in run, fragment
    [state_table, _] = audience_tables()
    assert state_table.partition_field == "loaded_hour"


def test_every_read_dedupes_messages_and_drops_our_own_events() -> None:
    sql = compile_run(load_definitions(), SETTINGS, use_state=True)
    reads = sql.count(f"QUALIFY ROW_NUMBER() OVER ({FIRST_LOADED}) = 1")
    assert reads == 2  # the windowed read and the all-time read since the state
    assert sql.count("source_id != 'audiences'") == 2
    assert "`p.cdp_raw.cold_archive`" in sql and "`p.cdp_curated.identity_map`" in sql


X = "IF(IS_NAN(SAFE_CAST(x AS FLOAT64)) OR IS_INF(SAFE_CAST(x AS FLOAT64)), NULL, SAFE_CAST(x AS FLOAT64))"  # noqa: E501  # a finite number, else NULL


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "deposit", "x = 'deposit'"),
        ("eq", 100, f"{X} = 100"),
        ("eq", 2.5, f"{X} = 2.5"),
        ("eq", True, "x = 'true'"),
        ("ne", "card", "(x IS NULL OR x != 'card')"),
        ("gt", 10, f"{X} > 10"),
        ("gte", 10, f"{X} >= 10"),
        ("lt", "m", "x < 'm'"),
        ("lte", -1, f"{X} <= -1"),
        ("in", ["ach", 3], f"(x = 'ach' OR {X} = 3)"),
        ("gt", 10**25, f"{X} > 1e+25"),  # beyond INT64: a FLOAT64 literal
        ("eq", "it's \\ fine", "x = 'it\\'s \\\\ fine'"),
    ],
)
def test_where_operators(op: str, value: Any, expected: str) -> None:
    assert compare_text("x", op, value) == expected


def test_where_reads_properties_of_the_payload() -> None:
    spec = trait_spec("t", defs({"t": {**SUM_30D, "where": {"type": "deposit", "amount": {
        "op": "gte", "value": 100}}}}).traits["t"])  # fmt: skip
    amount = "JSON_VALUE(payload, '$.properties.amount')"
    assert where_sql(spec.where) == [
        X.replace("x", amount) + " >= 100",
        "JSON_VALUE(payload, '$.properties.type') = 'deposit'",
    ]


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ("count", "SUM(IF(trait_key = '{k}', events, NULL))"),
        ("sum", "ROUND(COALESCE(SUM(IF(trait_key = '{k}', total, NULL)), 0), 6)"),  # stable
        ("min", "MIN(IF(trait_key = '{k}', minimum, NULL))"),
        ("max", "MAX(IF(trait_key = '{k}', maximum, NULL))"),
        ("first", "MIN(IF(trait_key = '{k}' AND first_at = earliest, value, NULL))"),
        ("last", "MIN(IF(trait_key = '{k}' AND last_at = latest, value, NULL))"),
        ("unique_count", "NULLIF(COUNTIF(trait_key = '{k}'), 0)"),
        (
            "unique_list",
            "ARRAY_AGG(IF(trait_key = '{k}' AND value_rank <= 100, value, NULL) "
            "IGNORE NULLS ORDER BY value)",
        ),  # the 100 smallest values
        ("most_frequent", "MIN(IF(trait_key = '{k}' AND events = top, value, NULL))"),
        ("first_at", "MIN(IF(trait_key = '{k}', first_at, NULL))"),
        ("last_at", "MAX(IF(trait_key = '{k}', last_at, NULL))"),
    ],
)
def test_each_aggregate(aggregate: str, expected: str) -> None:
    needs_property = aggregate not in ("count", "first_at", "last_at")
    trait = {"event": "e", "aggregate": aggregate, **({"property": "p"} if needs_property else {})}
    spec = trait_spec("k", defs({"k": trait}).traits["k"])
    assert expected.format(k=spec.key) in final_aggregate(spec)
    sql = compile_run(defs({"k": trait}), SETTINGS, use_state=False)
    assert " AS t_k" in sql
    value = "SUBSTR(JSON_VALUE(payload, '$.properties.p'), 1, 1000)" if spec.uses_value else "''"
    assert f"{value} AS value" in sql


A = {"event": "a", "at_least": 1}
RULES: list[tuple[Any, str]] = [
    ({"event": "e", "within": "30d", "at_least": 3}, "COALESCE(COALESCE({h}, 0) >= 3, FALSE)"),
    ({"event": "e", "at_most": 2}, "COALESCE(COALESCE({h}, 0) <= 2, FALSE)"),
    ({"event": "e", "within": "21d", "never": True}, "COALESCE(COALESCE({h}, 0) = 0, FALSE)"),
    ({"event": "e", "first_before": "7d"},
     "COALESCE({h} < TIMESTAMP_SUB(@as_of, INTERVAL 7 DAY), FALSE)"),
    ({"event": "e", "last_before": "3d"},
     "COALESCE({h} < TIMESTAMP_SUB(@as_of, INTERVAL 3 DAY), FALSE)"),
    ({"trait": "n", "op": "gte", "value": 3}, "COALESCE(COALESCE(t_n, 0) >= 3, FALSE)"),
    ({"trait": "last", "op": "lt", "value": "2026-01-01T00:00:00Z"},
     "COALESCE(t_last < TIMESTAMP '2026-01-01T00:00:00+00:00', FALSE)"),
    ({"trait": "fav", "op": "ne", "value": "card"},
     "COALESCE((t_fav IS NULL OR t_fav != 'card'), FALSE)"),
    ({"trait": "fav", "op": "not_set"}, "COALESCE(t_fav IS NULL, FALSE)"),
    ({"profile_trait": "plan", "op": "eq", "value": "pro"},
     "COALESCE(JSON_VALUE(pt.traits, '$.plan') = 'pro', FALSE)"),
    ({"profile_trait": "plan", "op": "is_set"},
     "COALESCE(JSON_VALUE(pt.traits, '$.plan') IS NOT NULL, FALSE)"),
    ({"not": {"trait": "fav", "op": "is_set"}}, "(NOT COALESCE(t_fav IS NOT NULL, FALSE))"),
    ({"any": [{"trait": "n", "op": "eq", "value": 1}, {"trait": "fav", "op": "is_set"}]},
     "(COALESCE(COALESCE(t_n, 0) = 1, FALSE) OR COALESCE(t_fav IS NOT NULL, FALSE))"),
    ({"all": [{"audience": "base"}, {"trait": "n", "op": "gt", "value": 0}]},
     "(COALESCE(COALESCE({ha}, 0) >= 1, FALSE) AND COALESCE(COALESCE(t_n, 0) > 0, FALSE))"),
    (SESSIONS, "COALESCE((COALESCE({s}_prior, 0) >= 3 AND COALESCE({s}_recent, 0) * 30 < 0.5 "
               "* COALESCE({s}_prior, 0) * 7), FALSE)"),
]  # fmt: skip
TRAITS = {"n": {"event": "e", "aggregate": "count"}, "last": LAST_ALL,
          "fav": {"event": "e", "aggregate": "most_frequent", "property": "type"}}  # fmt: skip


@pytest.mark.parametrize(("rule", "expected"), RULES)
def test_each_rule_kind(rule: Any, expected: str) -> None:
    definitions = defs(TRAITS, {"base": A, "x": rule})
    plan = plan_of(definitions)
    hidden = {s.event: s.key for s in plan.hidden.values() if s.key != event_spec_key(A)}
    [session] = plan.sessions or {"": None}
    sql = RuleCompiler(definitions, plan).audience("x")
    assert sql == expected.format(h=hidden.get("e"), ha=event_spec_key(A), s=session)


def event_spec_key(rule: dict[str, Any]) -> str:
    return plan_of(defs(audiences={"r": rule})).hidden.popitem()[0]


def test_exclusive_groups_take_the_first_in_list_order() -> None:
    definitions = defs(audiences={"a": A, "b": A, "c": A, "d": A}, groups={
        "g": {"audiences": ["c", "a", "b"], "exclusive": True}})  # fmt: skip
    sql = compile_run(definitions, SETTINGS, use_state=False)
    assert "r_c AS a_c" in sql
    assert "(r_a AND NOT (r_c)) AS a_a" in sql
    assert "(r_b AND NOT (r_c OR r_a)) AS a_b" in sql
    assert "r_d AS a_d" in sql
    loose = defs(audiences={"a": A, "b": A}, groups={"g": {"audiences": ["a", "b"]}})
    assert "r_b AS a_b" in compile_run(loose, SETTINGS, use_state=False)


def test_hidden_keys_are_deterministic_shared_and_never_output() -> None:
    rule = {"event": "e", "where": {"b": 1, "a": "x"}, "within": "30d", "at_least": 2}
    same = {"event": "e", "where": {"a": "x", "b": 1}, "within": "30d", "at_most": 5}
    definitions = defs(TRAITS, {"one": rule, "two": same})
    plan = plan_of(definitions)
    assert len(plan.hidden) == 1  # one count serves both rules
    [key] = plan.hidden
    assert re.fullmatch(r"h_[0-9a-f]{12}", key)
    assert key == event_spec(definitions.audiences["two"].rule).key  # type: ignore[arg-type]
    longer = defs(audiences={"one": {**rule, "within": "31d"}})
    assert [*plan_of(longer).hidden] != [key]
    sql = compile_run(definitions, SETTINGS, use_state=False)
    assert output_columns(sql) == [
        "profile_id", "user_id", "anonymous_id", "t_n", "t_last", "t_fav", "a_one", "a_two"
    ]  # fmt: skip
    assert compile_run(definitions, SETTINGS, use_state=False) == sql


def test_output_columns_of_the_shipped_definitions() -> None:
    shipped = load_definitions()
    columns = output_columns(compile_run(shipped, SETTINGS, use_state=True))
    traits, audiences = [f"t_{k}" for k in shipped.traits], [f"a_{k}" for k in shipped.audiences]
    assert columns == ["profile_id", "user_id", "anonymous_id", *traits, *audiences]


def test_the_state_query_has_exactly_the_state_tables_columns() -> None:
    sql = compile_state(load_definitions(), SETTINGS)
    assert "loaded_at >= @from AND loaded_at < @until" in sql
    assert "@as_of" not in sql
    final = sql[sql.rindex("\nSELECT TO_HEX") :].split("\nFROM facts")[0]
    after_hash = final.split("))) AS ")[1]
    found = [piece.split()[-1] for piece in after_hash.split(",")]
    assert found == [c.name for c in TRAIT_STATE_COLUMNS]
    for spec in plan_of(load_definitions()).all_time:  # hidden ones too
        assert f"{text(spec.key)} AS trait_key" in sql
    nothing = compile_state(defs({"v": SUM_30D}), SETTINGS)
    assert nothing.rstrip().endswith("LIMIT 0")


def test_sessions_exclude_server_sources_and_cut_after_more_than_the_gap() -> None:
    servers = Settings(project_id="p", sources=[
        Source(id="backend", name="B", kind="server", write_key_sha256=""),
        Source(id="web", name="W", kind="web", write_key_sha256="")])  # fmt: skip
    sql = compile_run(defs(audiences={"c": SESSIONS}), servers, use_state=False)
    assert "WHERE source_id IS NULL OR source_id NOT IN ('backend')" in sql
    assert "> 1800000000" in sessions_sql("SELECT 1") and "> 600000000" in sessions_sql("x", 10)
    assert "NOT IN" not in compile_run(defs(audiences={"c": SESSIONS}), SETTINGS, use_state=False)


def test_profile_traits_join_the_users_table_only_when_a_rule_reads_one() -> None:
    rule = {"profile_trait": "plan", "op": "eq", "value": "pro"}
    assert "`p.cdp_processed.users`" in compile_run(defs(audiences={"p": {"all": [A, rule]}}),
                                                   SETTINGS, use_state=False)  # fmt: skip
    assert "cdp_processed.users" not in compile_run(load_definitions(), SETTINGS, use_state=False)


def test_trait_tests_treat_no_count_as_zero() -> None:
    assert trait_test("t", "count", "lt", 3) == "COALESCE(t, 0) < 3"
    assert trait_test("t", "max", "lt", 3) == "t < 3"
    assert profile_trait_test("age", "gt", 40) == (
        X.replace("x", "JSON_VALUE(pt.traits, '$.age')") + " > 40"
    )


def test_state_keys_are_what_each_all_time_aggregate_aggregates_not_its_name() -> None:
    shipped = load_definitions()
    keys = state_keys(shipped)
    assert keys == state_keys(load_definitions())
    assert all(re.fullmatch(r"[th]_[0-9a-f]{12}", k) for k in keys)
    traits = {k: v.model_dump(by_alias=True) for k, v in shipped.traits.items()}
    data = {**shipped.model_dump(by_alias=True, exclude_none=True), "traits": traits}
    traits["transactions_30d"]["window"] = "7d"  # a windowed trait: no state
    assert state_keys(parse_definitions(data)) == keys
    traits["renamed"] = traits.pop("transaction_methods")  # a new name, the same aggregate
    assert state_keys(parse_definitions(data)) == keys
    for change in ({"property": "type"}, {"event": "transaction_initiated"},
                   {"where": {"type": "deposit"}}):  # fmt: skip
        redefined = {**data, "traits": {**traits, "renamed": {**traits["renamed"], **change}}}
        new = state_keys(parse_definitions(redefined))
        assert len(set(new) - set(keys)) == 1 and len(set(keys) - set(new)) == 1, change
    # Two traits defined alike share one key and one set of facts, each gets its column.
    twins = defs({"a": LAST_ALL, "b": LAST_ALL})
    sql = compile_run(twins, SETTINGS, use_state=False)
    assert len(state_keys(twins)) == 1 and sql.count("AS trait_key") == 1
    assert " AS t_a" in sql and " AS t_b" in sql
