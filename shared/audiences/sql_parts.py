"""SQL fragments: literals, property conditions, rule leaves, and the final aggregates.

Everything here is plain BigQuery standard SQL that the local emulator (DuckDB underneath) also
runs the same way: IF, COALESCE, JSON_VALUE, SAFE_CAST, COUNTIF, MIN/MAX/SUM, TIMESTAMP_SUB.
Two things the emulator does differently are avoided: ``ARRAY_AGG(... IGNORE NULLS ORDER BY ...
LIMIT 1)`` drops the NULLs after the LIMIT there (so "the first value" is picked with window
functions instead), and a JSON number reads back as the text it was written as (``100.0``),
where BigQuery may normalise it; values are compared as numbers whenever the rule gives one.
"""

from __future__ import annotations

from typing import Any

from shared.audiences.definitions import Condition, timestamp_value
from shared.audiences.sql_specs import Spec

INT64_MAX = 2**63 - 1
LIST_VALUES = 100  # unique_list keeps the smallest 100 values by text
VALUE_CHARS = 1000  # a property value counts by its first 1,000 characters
OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "ne": "!="}
ZERO_WHEN_NONE = frozenset({"count", "unique_count", "sum"})  # compared as 0 when no event
SUM_DECIMALS = 6  # a sum's value: enough for any currency's minor unit, stable run to run


def _escape(char: str) -> str:
    if char in ("\\", "'"):
        return "\\" + char
    if char == "\n":
        return "\\n"
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
        return f"\\u{code:04x}"
    return char


def text(value: str) -> str:
    """A quoted string literal: quotes and backslashes escaped, every control character (and
    the line and paragraph separators) as a ``\\uXXXX`` escape, so a literal is one line of
    printable text whatever a definition holds. A NUL cannot be in a BigQuery string."""
    if "\x00" in value:
        raise ValueError(f"a text value holds a NUL character: {value!r}")
    return "'" + "".join(_escape(c) for c in value) + "'"


def number(value: float | int) -> str:
    """A numeric literal: an integer within INT64 as one, any other number as FLOAT64 (a count
    compared with ``10**20`` is compared as a float, never an out-of-range literal)."""
    if isinstance(value, int) and -INT64_MAX - 1 <= value <= INT64_MAX:
        return str(value)
    try:
        return repr(float(value))  # the definitions hold finite floats only
    except OverflowError:  # an integer beyond FLOAT64 too
        return f"CAST('{'-' if value < 0 else ''}inf' AS FLOAT64)"


def finite(expr: str) -> str:
    """``expr`` (text) as FLOAT64, NULL when it is not a finite number: BigQuery reads the
    strings "NaN" and "inf" as numbers, which would poison sums and comparisons."""
    cast = f"SAFE_CAST({expr} AS FLOAT64)"
    return f"IF(IS_NAN({cast}) OR IS_INF({cast}), NULL, {cast})"


def json_text(column: str, path: str) -> str:
    """``path`` is a plain name (checked by the definitions' pattern)."""
    return f"JSON_VALUE({column}, '$.{path}')"


def compare_text(expr: str, op: str, value: Any) -> str:
    """``expr`` (a JSON value as text) against a rule's value: numbers as FLOAT64, true/false
    as JSON writes them, text as text. ``ne`` also holds when the value is missing."""
    if op == "in":
        return "(" + " OR ".join(compare_text(expr, "eq", v) for v in value) + ")"
    if isinstance(value, bool):
        left, right = expr, text("true" if value else "false")
    elif isinstance(value, int | float):
        left, right = finite(expr), number(value)
    else:
        left, right = expr, text(str(value))
    if op == "ne":
        return f"({left} IS NULL OR {left} != {right})"
    return f"{left} {OPS[op]} {right}"


def where_sql(where: tuple[tuple[str, Any], ...], column: str = "payload") -> list[str]:
    """Conditions on ``$.properties`` of the event's payload, one per property."""
    found = []
    for prop, test in where:
        expr = json_text(column, f"properties.{prop}")
        if isinstance(test, Condition):
            found.append(compare_text(expr, test.op, test.value))
        else:
            found.append(compare_text(expr, "eq", test))
    return found


def event_filter(spec: Spec, *extra: str) -> str:
    conditions = [f"event = {text(spec.event)}", *where_sql(spec.where), *extra]
    return " AND ".join(conditions)


def within(days: int, column: str = "timestamp") -> str:
    """``as_of - days < column`` (the window's start is open, its end ``<= @as_of``)."""
    return f"{column} > TIMESTAMP_SUB(@as_of, INTERVAL {days} DAY)"


def value_expr(spec: Spec) -> str:
    """The property's text, its first ``VALUE_CHARS`` characters (a profile document stays
    small; values alike in those characters are one value)."""
    if not spec.uses_value:
        return "''"
    return f"SUBSTR({json_text('payload', f'properties.{spec.prop}')}, 1, {VALUE_CHARS})"


def number_expr(spec: Spec) -> str:
    if spec.uses_number:
        return finite(json_text("payload", f"properties.{spec.prop}"))
    return "CAST(NULL AS FLOAT64)"


FACT_COLUMNS = "events, total, minimum, maximum, first_at, last_at"


def fact_select(spec: Spec, source: str, group: str, *extra: str) -> str:
    """Partial aggregates of ``spec`` over ``source``'s rows, per ``group`` and value: what the
    state table stores per identifier and hour, and what a run rolls up per profile."""
    conditions = [*extra, *(["value IS NOT NULL"] if spec.uses_value else [])]
    num = number_expr(spec)
    return (
        f"SELECT {text(spec.key)} AS trait_key, {group}, value, COUNT(*) AS events,\n"
        f"    SUM(num) AS total, MIN(num) AS minimum, MAX(num) AS maximum,\n"
        f"    MIN(timestamp) AS first_at, MAX(timestamp) AS last_at\n"
        f"  FROM (SELECT *, {value_expr(spec)} AS value, {num} AS num FROM {source}\n"
        f"    WHERE {event_filter(spec)})\n"
        + (f"  WHERE {' AND '.join(conditions)}\n" if conditions else "")
        + f"  GROUP BY {group}, value"
    )


def final_aggregate(spec: Spec) -> str:
    """``spec``'s value per profile from the rolled-up facts (one row per key, profile and
    value, with ``earliest``, ``latest``, ``top`` and the value's ``value_rank`` by text, over
    the key and profile): NULL when the person had no matching event. Ties: the smallest text wins
    (first, last, most frequent). A ``unique_list`` holds the ``LIST_VALUES`` smallest values."""
    mine = f"trait_key = {text(spec.key)}"
    events = f"SUM(IF({mine}, events, NULL))"
    return {
        "count": events,
        # rounded: a float sum's last digits depend on the order rows are added in, and a
        # value that changes with it would rewrite every profile on every run
        "sum": f"IF({events} IS NULL, NULL, ROUND(COALESCE(SUM(IF({mine}, total, NULL)), 0), "
        f"{SUM_DECIMALS}))",
        "min": f"MIN(IF({mine}, minimum, NULL))",
        "max": f"MAX(IF({mine}, maximum, NULL))",
        "first": f"MIN(IF({mine} AND first_at = earliest, value, NULL))",
        "last": f"MIN(IF({mine} AND last_at = latest, value, NULL))",
        "unique_count": f"NULLIF(COUNTIF({mine}), 0)",
        "unique_list": (
            f"ARRAY_AGG(IF({mine} AND value_rank <= {LIST_VALUES}, value, NULL)"
            " IGNORE NULLS ORDER BY value)"
        ),
        "most_frequent": f"MIN(IF({mine} AND events = top, value, NULL))",
        "first_at": f"MIN(IF({mine}, first_at, NULL))",
        "last_at": f"MAX(IF({mine}, last_at, NULL))",
    }[spec.aggregate]


def trait_test(column: str, aggregate: str, op: str, value: Any) -> str:
    """A computed trait's comparison; counts and sums of no event compare as 0, other traits
    without a value compare false (``ne`` true)."""
    if op in ("is_set", "not_set"):
        return f"{column} IS {'NOT ' if op == 'is_set' else ''}NULL"
    left = f"COALESCE({column}, 0)" if aggregate in ZERO_WHEN_NONE else column
    if isinstance(value, str) and aggregate in ("first_at", "last_at"):
        moment = timestamp_value(value)
        right = f"TIMESTAMP {text(moment.isoformat() if moment else value)}"
    elif isinstance(value, str):
        right = text(value)
    else:
        right = number(value)
    if op == "ne":
        return f"({left} IS NULL OR {left} != {right})"
    return f"{left} {OPS[op]} {right}"


def profile_trait_test(name: str, op: str, value: Any) -> str:
    expr = json_text("pt.traits", name)
    if op in ("is_set", "not_set"):
        return f"{expr} IS {'NOT ' if op == 'is_set' else ''}NULL"
    return compare_text(expr, op, value)


def boolean(expr: str) -> str:
    """Never NULL: a leaf on a missing value is false, so ``not`` of it is true."""
    return f"COALESCE({expr}, FALSE)"
