"""Replaying blocked events after a plan fix: ``cdp failed-events replay``.

An event the tracking plan blocked sits in ``cdp_ops.failed_events`` as ingest accepted it
(``payload``: the enriched event, with its ``messageId``, ``receivedAt`` and ``timestamp``) with
every finding named (``findings``). A replay hands those payloads back to ingest after its
checks (``IngestHandler.reenter``): the current plan decides again, and the event goes on with
its original ids and times, so a replay never re-dates and downstream dedup (messageId) holds.

Never twice: the ledger ``replays/<failed_id>`` (Firestore) is written once the re-entry's
publish succeeded. Firestore, not a BigQuery table: a replay reads the ledger right after writing
it (the next page, the next run), and a streaming insert is not reliably visible to a query that
soon, while a DML update of the failed row is refused as long as it sits in the streaming buffer.
A crash between publish and ledger leaves events that a second replay publishes again; the
warehouse's insertId and dedup job (by messageId) absorb those. An event blocked again goes back
to the failed-events store as a new row (re-entry does that) and its old row is in the ledger,
so the next replay takes the new one.

What is never replayed: an event a PII finding blocked (its payload was redacted: replaying it
would publish masks as data, and the policy said such an event must not enter), an unreadable
payload, and one whose source is unknown or disabled. They are counted as skipped, with why,
and stay unreplayed (a source enabled again can replay them later).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import RetryableError
from shared.ingest.handler import IngestResult
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore, create_missing, document_id
from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings, Source
from shared.warehouse.tables import FAILED_EVENTS_TABLE, OPS

LEDGER = "replays"
STAGE = "ingest"
PLAN_KINDS = frozenset(
    {"unplanned_event", "unplanned_property", "missing_property", "wrong_type", "deprecated_event"}
)
PII_PREFIX = "pii_"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SKIP_PII = "blocked by the PII guard (payload redacted)"
SKIP_UNREADABLE = "payload is not an accepted event"
SKIP_UNKNOWN_SOURCE = "unknown source"
SKIP_DISABLED_SOURCE = "source disabled"
SKIP_SUPPRESSED = "suppressed (privacy request)"

# Keyset pages, oldest first: a long replay never holds more than one page. ``@until`` is when
# the replay started, so the rows it writes itself (blocked again) wait for the next replay.
_WHERE = """stage = @stage AND findings IS NOT NULL AND recorded_at <= @until
  AND (recorded_at > @after_at OR (recorded_at = @after_at AND failed_id > @after_id)){reason}"""
PAGE_SQL = (
    "SELECT failed_id, source_id, message_id, recorded_at, findings, payload FROM `{table}`\n"
    "WHERE " + _WHERE + "\nORDER BY recorded_at, failed_id\nLIMIT {limit}"
)
COUNT_SQL = "SELECT COUNT(*) AS n FROM `{table}`\nWHERE " + _WHERE
REASON_SQL = "\n  AND REGEXP_CONTAINS(findings, @reason)"  # narrows; ``selects`` decides


class ReplaySettings(BaseSettings):
    """How a replay reads and re-enters; the defaults suit the cloud and the emulators."""

    model_config = SettingsConfigDict(env_prefix="CDP_REPLAY_")

    page_size: int = Field(default=500, ge=1, le=10_000)  # failed rows read per query
    chunk_size: int = Field(default=100, ge=1, le=100)  # events per re-entry: one message a tier
    progress_every: int = Field(default=500, ge=1)  # a progress line every N events


class Reentry(Protocol):
    """Ingest after its checks (``IngestHandler.reenter``)."""

    def reenter(self, source: Source, events: list[dict[str, Any]]) -> IngestResult: ...


@dataclass(frozen=True)
class Candidate:
    """A failed row read back: ``event`` is None when its payload is not an event."""

    failed_id: str
    source_id: str
    recorded_at: Any
    kinds: tuple[str, ...]
    event: dict[str, Any] | None


def candidate(row: Row) -> Candidate:
    findings = _json(row.get("findings"))
    kinds = tuple(str(f["kind"]) for f in findings or () if isinstance(f, dict) and f.get("kind"))
    event = _json(row.get("payload"))
    return Candidate(
        str(row["failed_id"]),
        str(row.get("source_id") or ""),
        row["recorded_at"],
        kinds,
        event if isinstance(event, dict) else None,
    )


def selects(kinds: Sequence[str], reason: str | None) -> bool:
    """Blocked by governance (it has findings) and, with ``--reason``, one of them is of it."""
    return bool(kinds) and (reason is None or reason in kinds)


def skip_reason(item: Candidate, sources: Mapping[str, Source]) -> str | None:
    """Why this event is not re-entered (None: it is). Only plan findings are replayable."""
    if any(k.startswith(PII_PREFIX) for k in item.kinds):
        return SKIP_PII
    event = item.event
    if event is None or not event.get("messageId") or not event.get("receivedAt"):
        return SKIP_UNREADABLE
    source = sources.get(item.source_id)
    if source is None:
        return SKIP_UNKNOWN_SOURCE
    return None if source.enabled else SKIP_DISABLED_SOURCE


@dataclass
class Tally:
    selected: int = 0
    replayed: int = 0
    blocked_again: int = 0
    skipped: int = 0
    already_replayed: int = 0


@dataclass
class ReplayReport:
    """Counts overall and per source; ``by_kind``: finding kinds of the events re-entered (or,
    in a dry run, that would be); ``skipped_why``: reason → count."""

    dry_run: bool = False
    total: Tally = field(default_factory=Tally)
    by_source: dict[str, Tally] = field(default_factory=dict)
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped_why: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        t = self.total
        return t.replayed + t.blocked_again + t.skipped + t.already_replayed

    def add(self, source_id: str, **counts: int) -> None:
        per = self.by_source.setdefault(source_id or "-", Tally())
        for name, n in counts.items():
            setattr(self.total, name, getattr(self.total, name) + n)
            setattr(per, name, getattr(per, name) + n)

    def skip(self, source_id: str, why: str, n: int = 1) -> None:
        self.add(source_id, skipped=n)
        self.skipped_why[why] += n

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self.total),
            "by_source": {s: asdict(t) for s, t in sorted(self.by_source.items())},
            "by_kind": dict(sorted(self.by_kind.items())),
            "skipped_why": dict(sorted(self.skipped_why.items())),
            "dry_run": self.dry_run,
        }


class ReplayStopped(RetryableError):
    """The re-entry or the ledger failed part way; what was replayed is in the ledger, so
    running the replay again carries on. ``report`` holds the counts so far."""

    def __init__(self, report: ReplayReport, cause: Exception) -> None:
        super().__init__(f"replay stopped after {report.done} events: {cause}")
        self.report = report


class ReplayLedger:
    """``replays/<failed_id>``: the failed events already replayed, written once each."""

    def __init__(self, documents: DocumentStore, clock: Clock) -> None:
        self._documents = documents
        self._clock = clock

    def replayed(self, failed_ids: Sequence[str]) -> set[str]:
        refs = [(LEDGER, document_id(f)) for f in failed_ids]
        found = self._documents.get_all(refs) if refs else {}
        return {f for f, ref in zip(failed_ids, refs, strict=True) if found[ref] is not None}

    def record(self, items: Sequence[Candidate]) -> None:
        at = self._clock.now().isoformat()
        docs = {
            document_id(i.failed_id): {
                "failed_id": i.failed_id,
                "source_id": i.source_id,
                "message_id": str((i.event or {}).get("messageId") or ""),
                "replayed_at": at,
            }
            for i in items
        }
        if docs:
            create_missing(self._documents, LEDGER, docs)


Progress = Callable[[int, int, ReplayReport], None]  # (done, total, report so far)


class Replay:
    def __init__(
        self,
        settings: Settings,
        sql: SqlRunner,
        ledger: ReplayLedger,
        reentry: Reentry,
        clock: Clock,
        config: ReplaySettings | None = None,
    ) -> None:
        self._table = settings.table(OPS, FAILED_EVENTS_TABLE)
        self._sources = {s.id: s for s in settings.sources}
        self._sql = sql
        self._ledger = ledger
        self._reentry = reentry
        self._clock = clock
        self._config = config or ReplaySettings()

    def run(
        self,
        reason: str | None = None,
        since: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ReplayReport:
        """Re-enter the selected failed events, oldest first; ``dry_run`` publishes nothing and
        writes no ledger. Raises ReplayStopped (with the counts so far) if a backend fails."""
        report = ReplayReport(dry_run=dry_run)
        params = self._params(reason, since)
        total = int(self._sql.query(self._sql_of(COUNT_SQL, reason), params)[0]["n"])
        tick = _Ticker(report, total, self._config.progress_every, progress)
        for page in self._pages(reason, params):
            try:
                self._replay_page(page, reason, report, tick)
            except RetryableError as error:  # an outage; a bug propagates as it is
                raise ReplayStopped(report, error) from error
        return report

    def _replay_page(
        self, page: list[Candidate], reason: str | None, report: ReplayReport, tick: _Ticker
    ) -> None:
        picked = [c for c in _unique(page) if selects(c.kinds, reason)]
        for c in picked:
            report.add(c.source_id, selected=1)
        done = self._ledger.replayed([c.failed_id for c in picked])
        groups: dict[str, list[Candidate]] = {}
        for c in picked:
            why = skip_reason(c, self._sources)
            if c.failed_id in done:
                report.add(c.source_id, already_replayed=1)
            elif why is not None:
                report.skip(c.source_id, why)
            else:
                groups.setdefault(c.source_id, []).append(c)
        tick()  # what was already replayed or is skipped counts as done too
        size = self._config.chunk_size
        for source_id, items in groups.items():
            for start in range(0, len(items), size):
                self._reenter(self._sources[source_id], items[start : start + size], report)
                tick()

    def _reenter(self, source: Source, chunk: list[Candidate], report: ReplayReport) -> None:
        for c in chunk:
            report.by_kind.update(set(c.kinds))
        if report.dry_run:
            report.add(source.id, replayed=len(chunk))
            return
        result = self._reentry.reenter(source, [c.event for c in chunk if c.event is not None])
        self._ledger.record(chunk)  # after the publish: a crash before it replays again
        report.add(
            source.id,
            replayed=result.accepted,
            blocked_again=result.failed,
            already_replayed=result.duplicates,
        )
        if result.suppressed:
            report.skip(source.id, SKIP_SUPPRESSED, result.suppressed)

    def _pages(self, reason: str | None, params: dict[str, Any]) -> Iterator[list[Candidate]]:
        sql = self._sql_of(PAGE_SQL, reason, limit=self._config.page_size)
        while True:
            rows = self._sql.query(sql, params)
            if not rows:
                return
            page = [candidate(r) for r in rows]
            yield page
            if len(rows) < self._config.page_size:
                return
            params = {**params, "after_at": page[-1].recorded_at, "after_id": page[-1].failed_id}

    def _params(self, reason: str | None, since: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "stage": STAGE,
            "until": self._clock.now(),
            "after_at": since or EPOCH,
            "after_id": "",  # every id is above it: the first page starts at ``since``
        }
        if reason is not None:
            params["reason"] = rf'"kind"\s*:\s*"{re.escape(reason)}"'
        return params

    def _sql_of(self, template: str, reason: str | None, limit: int = 0) -> str:
        where = REASON_SQL if reason is not None else ""
        return template.format(table=self._table, reason=where, limit=limit)


class _Ticker:
    """Calls ``progress`` each time the events done cross a multiple of ``every``."""

    def __init__(
        self, report: ReplayReport, total: int, every: int, progress: Progress | None
    ) -> None:
        self._report, self._total, self._every, self._progress = report, total, every, progress
        self._shown = 0

    def __call__(self) -> None:
        steps = self._report.done // self._every
        if self._progress is not None and steps > self._shown:
            self._shown = steps
            self._progress(self._report.done, self._total, self._report)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _unique(page: list[Candidate]) -> list[Candidate]:
    """A failed row stored twice (a redelivery the dedup job has not removed yet) is one."""
    return list({c.failed_id: c for c in page}.values())
