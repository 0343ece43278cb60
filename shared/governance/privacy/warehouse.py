"""The person in BigQuery: which rows of each table are theirs, and deleting them.

Which rows follows from a table's columns, so a table added later is covered by what it holds:

    user_id, anonymous_id, previous_id      the person's userIds and anonymous ids (the cold
                                            archive included: identity's map gives every
                                            anonymous id the person ever had)
    profile_id, absorbed_profile_id         the person's profile ids (identity assignments)
    identifier_type + identifier_value      the person's identifiers
    payload (STRING)                        the failed event's identifier fields name them
                                            (payload.py: parsed, never a text search)
    message_id only                         an event of theirs (violations), found through the
                                            raw tables and the failed events, so those tables
                                            are cleared after the ones found through them

Each step counts the rows, then deletes them. BigQuery refuses DML on rows still in the
streaming buffer (streamed in the last ~30 to 90 minutes): that attempt leaves the step
``pending``, and the resume schedule tries again until the rows can be deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.governance.privacy import payload
from shared.governance.privacy.audit import Person
from shared.governance.privacy.requests import DONE, PENDING, Attempt
from shared.ports.warehouse import Dataset, SqlRunner
from shared.warehouse.layers import COLD_ARCHIVE_TABLE, EVENTS_TABLE, FAILED_EVENTS_TABLE

STREAMING_BUFFER = "streaming buffer"  # BigQuery: "... would affect rows in the streaming buffer"
BUFFER_DETAIL = (
    "BigQuery refused the DELETE: rows still in the streaming buffer; retried by the "
    "privacy-requests schedule until they can be deleted"
)
PERSON_COLUMNS = ("user_id", "anonymous_id", "previous_id", "profile_id", "absorbed_profile_id")
MAX_DETAIL = 300


@dataclass(frozen=True)
class Shape:
    """A declared table: its full name (``project.dataset.table``) and columns by type."""

    name: str
    columns: Mapping[str, str]

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]


def shapes(project_id: str, declared: Sequence[Dataset]) -> list[Shape]:
    return [
        Shape(f"{project_id}.{d.name}.{t.name}", {c.name: c.type for c in t.columns})
        for d in declared
        for t in d.tables
    ]


def holds_person(shape: Shape) -> bool:
    cols = shape.columns
    return (
        any(c in cols for c in PERSON_COLUMNS)
        or {"identifier_type", "identifier_value"} <= cols.keys()
        or cols.get("payload") == "STRING"
        or "message_id" in cols
    )


def is_event_table(shape: Shape) -> bool:
    """The raw tables the person's events (and so their message ids) are found in."""
    return shape.short.endswith((f".{EVENTS_TABLE}", f".{COLD_ARCHIVE_TABLE}")) and (
        "payload" in shape.columns
    )


def is_message_table(shape: Shape) -> bool:
    """Found through the person's events: no column of its own names the person."""
    cols = shape.columns
    return "message_id" in cols and not any(c in cols for c in PERSON_COLUMNS)


def params_of(person: Person) -> dict[str, list[str]]:
    in_payload = payload.params(person)
    return {
        "user_ids": person.values("user_id"),
        "anonymous_ids": person.values("anonymous_id"),
        "profile_ids": list(person.profile_ids),
        "keys": person.keys(),
        "payload_ids": in_payload["ids"],
        "payload_phones": in_payload["phones"],
    }


def _values(person: Person) -> list[str]:
    return sorted({v for values in person.identifiers.values() for v in values})


def _direct(shape: Shape, params: Mapping[str, list[str]]) -> list[str]:
    """The conditions on the table's own columns (only for ids the person has)."""
    cols, terms = shape.columns, []
    for column, wanted in (
        ("user_id", ("user_ids",)),
        ("anonymous_id", ("anonymous_ids",)),
        ("previous_id", ("anonymous_ids", "user_ids")),
        ("profile_id", ("profile_ids",)),
        ("absorbed_profile_id", ("profile_ids",)),
    ):
        if column in cols:
            terms += [f"{column} IN UNNEST(@{p})" for p in wanted if params[p]]
    if {"identifier_type", "identifier_value"} <= cols.keys() and params["keys"]:
        terms.append("CONCAT(identifier_type, ':', identifier_value) IN UNNEST(@keys)")
    if cols.get("payload") == "STRING":
        found = {"ids": params["payload_ids"], "phones": params["payload_phones"]}
        if named := payload.condition(payload.of_string("payload"), found, "payload_"):
            terms.append(named)
    return terms


def predicate(shape: Shape, all_shapes: Sequence[Shape], params: Mapping[str, list[str]]) -> str:
    """The WHERE clause selecting the person's rows of ``shape`` ("" when there are none to
    look for)."""
    terms = _direct(shape, params)
    if "message_id" in shape.columns:
        sources = [s for s in all_shapes if is_event_table(s) or _is_failed(s)]
        for source in sources:
            if source.name == shape.name or (is_event_table(shape) and not _is_failed(source)):
                continue
            inner = _direct(source, params)
            if inner and (is_message_table(shape) or _is_failed(shape)):
                terms.append(
                    f"message_id IN (SELECT message_id FROM `{source.name}` "
                    f"WHERE {' OR '.join(inner)})"
                )
    return " OR ".join(f"({t})" for t in terms)


def _is_failed(shape: Shape) -> bool:
    return shape.short.endswith(f".{FAILED_EVENTS_TABLE}")


def refused_for_buffer(error: BaseException) -> bool:
    """BigQuery's refusal of DML on streamed rows (a 400 whose message says so)."""
    return STREAMING_BUFFER in str(error).lower()


def _masked(text: str, person: Person) -> str:
    for value in sorted(_values(person), key=len, reverse=True):
        text = text.replace(value, "[deleted]")
    return text[:MAX_DETAIL]


def step(sql: SqlRunner, all_shapes: Sequence[Shape], person: Person) -> Callable[[str], Attempt]:
    """The attempt for a ``bigquery:<dataset>.<table>`` step."""
    params = params_of(person)
    by_short = {s.short: s for s in all_shapes}

    def run(table: str) -> Attempt:
        shape = by_short[table]
        where = predicate(shape, all_shapes, params)
        if not where:
            return Attempt(DONE, "nothing of the person to look for here")
        used: dict[str, Any] = {k: v for k, v in params.items() if f"@{k}" in where}
        try:
            counted = sql.query(f"SELECT COUNT(*) AS n FROM `{shape.name}` WHERE {where}", used)
            rows = int(counted[0]["n"]) if counted else 0
            if rows:
                sql.query(f"DELETE FROM `{shape.name}` WHERE {where}", used)
        except Exception as error:  # every failure is retried; the buffer's for longer
            if refused_for_buffer(error):
                return Attempt(PENDING, BUFFER_DETAIL)
            return Attempt(PENDING, _masked(f"{type(error).__name__}: {error}", person), True)
        return Attempt(DONE, f"deleted {rows} rows")

    return run
