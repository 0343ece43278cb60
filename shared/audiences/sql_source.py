"""SQL sources: a warehouse query whose rows become identify calls, on the ``sql-sources``
schedule and ``cdp audiences sql-sources``.

Each source in the definitions' ``sql_sources:`` names its query, the column holding the
identity (a userId or an anonymousId) and the columns that are traits (default: every other
one). Each row becomes an identify from the internal source ``sql-<key>``, handed to ingest
after its checks (``IngestHandler.reenter``): governance (suppression, PII, the plan's traits),
tiering and the pipeline treat it as any identify.

An unchanged row sends nothing: the ledger ``sql_sources/<key>:<identity>`` (Firestore) keeps
what was last sent for that identity (its messageId and a hash of its traits), written after
ingest published the call. A crash in between sends the same messageId again on the next run
(``sql_source_rows``), which dedup absorbs. Firestore, not a table: the next run reads the ledger
within the hour, and rows streamed into BigQuery are not reliably visible that soon.

A row is skipped, with the reason counted, when its identity is empty, when an earlier row of
the same query had the same identity (one call per identity and run, or the two would take
turns each run), and when it is a suppressed person's (whose ledger entry is then removed). A
row that disappears from the query sends nothing: the profile keeps the traits it was sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.api_core.exceptions import GoogleAPICallError

from shared.audiences.definitions import Definitions, SqlSource, configured_definitions
from shared.audiences.sql_source_rows import (
    REPEATED_IDENTITY,
    SUPPRESSED,
    Row,
    canonical,
    expand,
    identify,
    message_id,
    read_row,
    source_of,
)
from shared.ports.documents import Doc, Ref, Transaction, document_id

if TYPE_CHECKING:
    from shared.bootstrap import Services

LEDGER = "sql_sources"
CHUNK = 400  # rows per ledger read, ingest call and ledger transaction (Firestore: 500 writes)
log = logging.getLogger(__name__)


@dataclass
class SourceTally:
    rows: int = 0
    emitted: int = 0  # handed to ingest and published (or, in a dry run, that would be)
    unchanged: int = 0
    skipped: int = 0
    skipped_why: Counter[str] = field(default_factory=Counter)
    failed: int = 0  # refused by ingest's checks (kept as failed events, replayable)
    error: str | None = None  # the query failed: nothing of this source was sent

    def skip(self, why: str, n: int = 1) -> None:
        self.skipped += n
        self.skipped_why[why] += n

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "emitted": self.emitted,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "skipped_why": dict(sorted(self.skipped_why.items())),
            "failed": self.failed,
            "error": self.error,
        }


@dataclass
class SqlSourcesReport:
    dry_run: bool = False
    sources: dict[str, SourceTally] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "sources": {k: t.to_json() for k, t in self.sources.items()},
        }


def run_sql_sources(
    services: Services,
    *,
    defs: Definitions | None = None,
    dry_run: bool = False,
) -> SqlSourcesReport:
    """Every SQL source, one after the other; a source whose query fails is reported with its
    error and the others still run. ``dry_run`` sends nothing and writes no ledger."""
    defs = defs if defs is not None else configured_definitions(services.settings)
    report = SqlSourcesReport(dry_run=dry_run)
    for key, spec in defs.sql_sources.items():
        report.sources[key] = run_source(services, key, spec, dry_run=dry_run)
    return report


def run_source(
    services: Services, key: str, spec: SqlSource, *, dry_run: bool = False
) -> SourceTally:
    tally = SourceTally()
    try:
        rows = services.sql.query(expand(spec.sql, services.settings))
    except GoogleAPICallError as error:  # the query itself is wrong; transient errors raise
        log.warning("SQL source %s: the query failed: %s", key, error)
        tally.error = str(error.message or error)
        return tally
    tally.rows = len(rows)
    read: list[Row] = []
    seen: set[str] = set()
    for row in rows:
        got = read_row(row, spec.identity.column, spec.traits)
        if got.skip:
            tally.skip(got.skip)
        elif got.identity in seen:
            tally.skip(REPEATED_IDENTITY)
        else:
            seen.add(got.identity)
            read.append(got)
    for start in range(0, len(read), CHUNK):
        _send(services, key, spec, read[start : start + CHUNK], tally, dry_run)
    return tally


def content_of(key: str, identity: str, traits: dict[str, Any]) -> str:
    """What the ledger compares: a hash of the call's content, whatever id it was sent with."""
    return hashlib.sha256(f"{key}|{identity}|{canonical(traits)}".encode()).hexdigest()[:32]


def _send(
    services: Services,
    key: str,
    spec: SqlSource,
    chunk: Sequence[Row],
    tally: SourceTally,
    dry_run: bool,
) -> None:
    source = source_of(key)
    now = services.clock.now()
    refs: list[Ref] = [(LEDGER, document_id(f"{key}:{r.identity}")) for r in chunk]
    ledger = services.documents.get_all(refs)
    events: list[dict[str, Any]] = []
    writes: dict[str, Doc] = {}
    forget: list[str] = []
    for row, ref in zip(chunk, refs, strict=True):
        traits = row.traits or {}
        content = content_of(key, row.identity, traits)
        last = ledger[ref] or {}
        if last.get("content") == content:
            tally.unchanged += 1
            continue
        mid = message_id(key, row.identity, traits, str(last.get("message_id") or ""))
        event = identify(source, spec.identity.type, row.identity, traits, mid, now)
        if services.gate.suppressed(event):
            tally.skip(SUPPRESSED)
            if last:
                forget.append(ref[1])
            continue
        events.append(event)
        writes[ref[1]] = {"message_id": mid, "content": content, "sent_at": event["receivedAt"]}
    if dry_run:
        tally.emitted += len(events)
        return
    if events:
        result = services.ingest.reenter(source, events)
        tally.emitted += result.accepted + result.duplicates
        tally.failed += result.failed
        if result.suppressed:
            tally.skip(SUPPRESSED, result.suppressed)
    if writes or forget:
        services.documents.run_transaction(lambda tx: _record(tx, writes, forget))


def _record(tx: Transaction, writes: dict[str, Doc], forget: Sequence[str]) -> None:
    for doc_id, doc in writes.items():
        tx.set(LEDGER, doc_id, doc)
    for doc_id in forget:
        tx.delete(LEDGER, doc_id)
