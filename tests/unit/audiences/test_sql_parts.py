"""Literals, numbers and caps in the compiled SQL, as tables of cases; the emulator reads the
same literals back (tests/integration/test_audience_sql.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.audiences.compiler import compile_run, compile_state
from shared.audiences.definitions import parse_definitions
from shared.audiences.sql_parts import finite, number, text
from shared.audiences.sql_rules import event_test
from shared.audiences.sql_state import NOT_OURS
from shared.settings import Settings, Source


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("deposit", "'deposit'"),
        ("it's \\ fine", "'it\\'s \\\\ fine'"),
        ("a\nb", "'a\\nb'"),
        ("a\rb\tc", "'a\\u000db\\u0009c'"),  # every control character escaped
        ("\x1b[0m\x7f\x85", "'\\u001b[0m\\u007f\\u0085'"),
        ("line\u2028sep", "'line\\u2028sep'"),
        ("café €", "'café €'"),  # printable text as it is
    ],
)
def test_text_literals_are_one_line_of_printable_text(value: str, literal: str) -> None:
    assert text(value) == literal
    assert all(c.isprintable() for c in text(value))


def test_a_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        text("a\x00b")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (3, "3"),
        (-(2**63), "-9223372036854775808"),
        (2**63 - 1, "9223372036854775807"),
        (2**63, "9.223372036854776e+18"),  # beyond INT64: a FLOAT64 literal
        (10**20, "1e+20"),
        (-(10**400), "CAST('-inf' AS FLOAT64)"),  # beyond FLOAT64 too
        (2.5, "2.5"),
    ],
)
def test_numbers_are_literals_bigquery_accepts(value: float | int, literal: str) -> None:
    assert number(value) == literal


def test_counts_beyond_int64_compare_as_floats() -> None:
    rule: Any = parse_definitions({"version": 1, "audiences": {"a": {
        "name": "a", "owner": "t", "description": "d",
        "rule": {"event": "e", "at_least": 10**20}}}}).audiences["a"].rule  # fmt: skip
    assert event_test(rule).endswith(">= 1e+20")


def test_numbers_read_from_events_are_finite_or_null() -> None:
    cast = "SAFE_CAST(x AS FLOAT64)"
    assert finite("x") == f"IF(IS_NAN({cast}) OR IS_INF({cast}), NULL, {cast})"
    definitions = parse_definitions({"version": 1, "traits": {"v": {
        "owner": "t", "description": "d", "event": "e", "aggregate": "sum", "property": "amount",
    }}})  # fmt: skip
    sql = compile_run(definitions, Settings(project_id="p"), use_state=False)
    assert finite("JSON_VALUE(payload, '$.properties.amount')") + " AS num" in sql
    assert "SAFE_CAST(JSON_VALUE(payload, '$.properties.amount') AS FLOAT64) AS num" not in sql


def test_values_are_capped_in_length_and_lists_in_count() -> None:
    definitions = parse_definitions({"version": 1, "traits": {"m": {
        "owner": "t", "description": "d", "event": "e", "aggregate": "unique_list",
        "property": "method",
    }}})  # fmt: skip
    settings = Settings(project_id="p")
    run = compile_run(definitions, settings, use_state=False)
    capped = "SUBSTR(JSON_VALUE(payload, '$.properties.method'), 1, 1000) AS value"
    assert capped in run and capped in compile_state(definitions, settings)
    assert "ROW_NUMBER() OVER (PARTITION BY trait_key, profile_id ORDER BY value)" in run
    assert "AND value_rank <= 100, value, NULL) IGNORE NULLS ORDER BY value) AS t_m" in run


def test_the_platforms_own_sources_are_never_a_persons_activity() -> None:
    assert NOT_OURS == (
        "(source_id IS NULL OR (source_id != 'audiences' AND source_id NOT LIKE 'sql-%'))"
    )
    definitions = parse_definitions({"version": 1, "audiences": {"c": {
        "name": "c", "owner": "t", "description": "d", "rule": {"all": [
            {"sessions": {"recent": "7d", "prior": "30d", "min_prior": 3, "below_ratio": 0.5}},
            {"event": "e", "at_least": 1}]}}}})  # fmt: skip
    settings = Settings(project_id="p", sources=[
        Source(id="backend", name="B", kind="server", write_key_sha256="")])  # fmt: skip
    run = compile_run(definitions, settings, use_state=True)
    # Every raw read (sessions and windows, all time since the state) and the state itself.
    assert run.count(f"WHERE {NOT_OURS}") == 2
    assert compile_state(definitions, settings).count(f"WHERE {NOT_OURS}") == 1
    sessions = run[run.index("sessions AS (") :]
    assert "FROM recent WHERE source_id IS NULL OR source_id NOT IN ('backend')" in sessions
