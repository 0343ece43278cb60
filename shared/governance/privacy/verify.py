"""Verification: search every store for anything of the person a request deleted.

- Firestore: the person's documents by key in every collection that is keyed by a person
  (identifiers, profiles, promotion, attribution and back-fill records, the SQL sources'
  ledger), then a scan of those
  collections and of the delivery ledger for any document naming one of their identifier keys
  (``user_id:42``, not a bare ``42``) or profile ids (up to ``scan_limit`` documents each; a
  larger collection is reported as only partly scanned). The request records themselves and
  the suppression list (hashes only) are not searched.
- BigQuery: every declared table of every layer (raw events, the cold archive, processed
  tables, users, identity assignments, failed events, violations...): a row whose STRING
  column equals one of the person's values (case-insensitive), whose JSON column contains
  one as a JSON string, or whose event payload (raw or failed) names them in an identifier
  field (``payload.py``).
- Pub/Sub: every dead-letter subscription, peeked (nothing is acknowledged).

Anything found is listed as ``store:where (count)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.destinations.runner import LEDGER
from shared.governance.privacy import deadletters, payload
from shared.governance.privacy.audit import Person
from shared.governance.privacy.firestore import (
    COLLECTIONS,
    SQL_SOURCES,
    keyed_names,
    ledger_refs,
    mentions,
    needles,
    refs_of,
)
from shared.governance.privacy.warehouse import Shape
from shared.ports.documents import DocumentStore
from shared.ports.subscriber import Subscriber
from shared.ports.warehouse import SqlRunner

SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class Findings:
    found: list[str] = field(default_factory=list)  # where something of the person remains
    searched: list[str] = field(default_factory=list)  # what was searched
    partial: list[str] = field(default_factory=list)  # searched only in part, or not reachable

    @property
    def clean(self) -> bool:
        return not self.found

    def to_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "found": self.found, "searched": self.searched,
                "partial": self.partial}  # fmt: skip


def search_firestore(
    documents: DocumentStore, person: Person, scan_limit: int, out: Findings
) -> None:
    for collection in COLLECTIONS:
        refs = (
            ledger_refs(documents, person, scan_limit)
            if collection == SQL_SOURCES
            else refs_of(person, collection)
        )
        docs = documents.get_all(refs) if refs else {}
        out.found.extend(f"firestore:{c}/{d}" for (c, d), doc in docs.items() if doc is not None)
    names = keyed_names(person)  # a bare value may be anyone's string
    for collection in (*COLLECTIONS, LEDGER):
        scanned = documents.list(collection, limit=scan_limit)
        hits = [doc_id for doc_id, doc in scanned if mentions(doc, names)]
        out.found.extend(f"firestore:{collection}/{d} (mentions)" for d in hits)
        out.searched.append(f"firestore:{collection} ({len(scanned)} documents)")
        if len(scanned) >= scan_limit:
            out.partial.append(f"firestore:{collection}: first {scan_limit} documents only")


def search_sql(shape: Shape, wanted: Mapping[str, Sequence[str]]) -> str:
    """Rows of ``shape`` naming one of ``@values`` (lowercased) in a STRING column, one of
    ``@quoted`` inside a JSON column, or, in an event's ``payload``, the person in one of its
    identifier fields (``payload.py``: ``@ids``, ``@phones``)."""
    exact = [f"LOWER({c}) = v" for c, t in shape.columns.items() if t == "STRING"]
    inner = [f"STRPOS(LOWER(TO_JSON_STRING({c})), q) > 0" for c, t in shape.columns.items()
             if t == "JSON" and c != "payload"]  # fmt: skip
    kind = shape.columns.get("payload")
    event = payload.of_string("payload") if kind == "STRING" else "payload"
    terms = []
    if exact and wanted.get("values"):
        terms.append(f"EXISTS(SELECT 1 FROM UNNEST(@values) AS v WHERE {' OR '.join(exact)})")
    if inner and wanted.get("quoted"):
        terms.append(f"EXISTS(SELECT 1 FROM UNNEST(@quoted) AS q WHERE {' OR '.join(inner)})")
    if kind in ("STRING", "JSON") and (named := payload.condition(event, wanted)):
        terms.append(named)
    if not terms:
        return ""
    return f"SELECT COUNT(*) AS n FROM `{shape.name}` WHERE {' OR '.join(terms)}"


def search_warehouse(
    sql: SqlRunner, shapes: Sequence[Shape], person: Person, out: Findings
) -> None:
    values = sorted({v.lower() for v in needles(person)})
    wanted = {
        "values": values,
        "quoted": sorted({json.dumps(v, ensure_ascii=False) for v in values}),
        **payload.params(person),
    }
    for shape in shapes:
        statement = search_sql(shape, wanted)
        if not statement:
            continue
        used = {k: v for k, v in wanted.items() if f"@{k}" in statement}
        try:
            rows = sql.query(statement, used)
        except Exception as error:  # a table that cannot be read is not a clean table
            out.partial.append(f"bigquery:{shape.short}: {type(error).__name__}")
            out.found.append(f"bigquery:{shape.short} (not readable)")
            continue
        n = int(rows[0]["n"]) if rows else 0
        out.searched.append(f"bigquery:{shape.short}")
        if n:
            out.found.append(f"bigquery:{shape.short} ({n} rows)")


def search_dead_letters(
    subscriber: Subscriber, names: Sequence[str], person: Person, out: Findings
) -> None:
    for name in names:
        try:
            n = deadletters.search(subscriber, name, person)
        except Exception as error:  # an unreachable subscription is reported, not passed
            out.partial.append(f"pubsub:{name}: {type(error).__name__}")
            continue
        out.searched.append(f"pubsub:{name}")
        if n:
            out.found.append(f"pubsub:{name} ({n} messages)")


def verify(
    person: Person,
    *,
    documents: DocumentStore,
    sql: SqlRunner | None,
    shapes: Sequence[Shape],
    subscriber: Subscriber | None,
    dead_letters: Sequence[str],
    scan_limit: int = SCAN_LIMIT,
) -> Findings:
    out = Findings()
    search_firestore(documents, person, scan_limit, out)
    if sql is not None:
        search_warehouse(sql, shapes, person, out)
    if subscriber is not None:
        search_dead_letters(subscriber, dead_letters, person, out)
    return out
