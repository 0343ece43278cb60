"""One audience run (the hourly job ``audiences``, ``cdp audiences run [--as-of T]``).

A present-time run (no ``as_of``):
1. refreshes the all-time trait state up to the last settled hour loaded (``state.py``);
2. computes every person's traits and audiences as of now (``compile_run``, with the state);
3. diffs them against the open memberships (``memberships.py``), suppressed people left out
   first (they exit as ``deleted``);
4. announces the person-level transitions as events through ingest (``emit.py``);
5. appends the transitions to ``cdp_processed.audience_transitions`` (insertId: their id);
6. writes ``computed_traits`` and ``audiences`` to the profiles that changed (``profiles.py``);
7. records itself in ``audience_runs/latest``.
Events go out before the transitions are stored: a run stopped between the two finds the same
changes next time and announces them again (at least once, never lost).

A run ``as_of`` a past moment computes over the whole raw history (no state: the state holds
events loaded up to now), stores its transitions at that moment, and emits nothing and writes
no profile (profiles show the present). Memberships are a history in time order, so an as-of
run must not be earlier than the last run's as-of; one that is, is refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.audiences.compiler import compile_run, compile_state
from shared.audiences.definitions import Definitions, load_definitions
from shared.audiences.emit import emit, events_for
from shared.audiences.memberships import (
    ENTERED,
    EXITED,
    Member,
    Person,
    Transition,
    after,
    counts,
    diff,
    message_id,
    person_of,
    sizes,
)
from shared.audiences.profiles import ProfileSync, fields_of, merged_roots
from shared.audiences.state import RUNS, refresh_state
from shared.audiences.tables import MEMBERSHIPS_VIEW, TRANSITIONS_TABLE
from shared.errors import PermanentError
from shared.ingest.events import iso
from shared.ports.warehouse import Row
from shared.warehouse.layers import CURATED, PROCESSED

if TYPE_CHECKING:
    from shared.bootstrap import Services

LATEST = "latest"
INSERT_BATCH = 500
MEMBERS_SQL = """
SELECT audience_key, profile_id, user_id, entered_at FROM `{view}`
WHERE exited_at IS NULL
"""
OUT_OF_ORDER = (
    "--as-of {as_of} is before the last run's as-of {last}: memberships are a history in time "
    "order (run as-of times oldest first, on a dataset without later runs)."
)
IN_THE_FUTURE = "--as-of {as_of} is in the future (now: {now})."
REFUSED = "The transitions table refused {n} rows, e.g. {error}"


class AsOfRefused(PermanentError):
    """An as-of moment the membership history cannot take."""


class TransitionsRefused(PermanentError):
    """BigQuery refused transition rows: the code and the table disagree (a deploy to fix)."""


@dataclass
class RunReport:
    run_id: str
    as_of: str
    emitted: bool  # a present-time run: events announced, profiles written
    sizes: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    profiles_written: int = 0
    events_emitted: int = 0
    state_rows: int = 0
    seconds: float = 0.0
    transitions: int = 0  # rows appended, merges and deletions included
    firestore_reads: int = 0  # documents read (profiles, fingerprints, run records)
    firestore_writes: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_audiences(
    services: Services, *, as_of: datetime | None = None, defs: Definitions | None = None
) -> RunReport:
    started = time.monotonic()
    s = services
    now = s.clock.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as its ISO text says
    present = as_of is None
    at = now if as_of is None else as_of
    defs = defs or _definitions(s)
    last = s.documents.get(RUNS, LATEST) or {}
    reads, writes = 1, 0
    _check_order(at, now, last, present)
    report = RunReport(run_id=_run_id(at, present), as_of=iso(at), emitted=present)
    params: dict[str, Any] = {"as_of": at}
    if present:
        refreshed = refresh_state(
            s.settings, s.sql, s.warehouse, s.documents, compile_state(defs, s.settings), now
        )
        reads, writes = reads + 1, writes + refreshed.moved
        report.state_rows = refreshed.rows
        params["state_until"] = refreshed.state_until
    rows = s.sql.query(compile_run(defs, s.settings, use_state=present), params)
    keys = list(defs.audiences)
    members = [m for m in _members(s) if m.audience_key in defs.audiences]
    people, deleted = _people(s, rows, list(defs.traits), keys)
    gone = sorted({m.profile_id for m in members if m.profile_id not in people} - deleted)
    merged, anonymous, read = merged_roots(s.documents, gone)
    reads += read
    deleted |= {m.profile_id for m in members if m.profile_id in gone and _suppressed(
        s, m.user_id, anonymous.get(m.profile_id))}  # fmt: skip
    moves = diff(people, members, merged_into=merged, deleted=deleted, anonymous_ids=anonymous)
    if present:
        report.events_emitted = emit(
            s.ingest, events_for(moves, people, defs.audiences, at)
        ).accepted
    _store(s, moves, at, report.run_id)
    if present:
        sync = ProfileSync(s.documents)
        held = after(members, moves, at)
        desired = {pid: fields_of(p, held.get(pid, {})) for pid, p in people.items()}
        report.profiles_written = sync.sync(desired, gone=sorted({*gone, *deleted}))
        reads, writes = reads + sync.reads, writes + sync.writes
    report.sizes = sizes(people, keys)
    report.entered, report.exited = counts(moves, ENTERED), counts(moves, EXITED)
    report.transitions = len(moves)
    report.firestore_reads, report.firestore_writes = reads, writes + 1
    report.seconds = round(time.monotonic() - started, 3)
    s.documents.set(RUNS, LATEST, {**report.to_json(), "finished_at": iso(s.clock.now())})
    return report


def _definitions(services: Services) -> Definitions:
    named = services.settings.audience_definitions
    return load_definitions(Path(named) if named else None)


def _run_id(at: datetime, present: bool) -> str:
    return ("run-" if present else "as-of-") + iso(at).replace("-", "").replace(":", "")


def _check_order(at: datetime, now: datetime, last: Mapping[str, Any], present: bool) -> None:
    if not present and at > now:
        raise AsOfRefused(IN_THE_FUTURE.format(as_of=iso(at), now=iso(now)))
    previous = str(last.get("as_of") or "")
    if previous and iso(at) < previous:
        raise AsOfRefused(OUT_OF_ORDER.format(as_of=iso(at), last=previous))


def _members(services: Services) -> list[Member]:
    view = services.settings.table(CURATED, MEMBERSHIPS_VIEW)
    return [
        Member(str(r["audience_key"]), str(r["profile_id"]), r.get("user_id"), r["entered_at"])
        for r in services.sql.query(MEMBERS_SQL.format(view=view))
    ]


def _suppressed(services: Services, user_id: str | None, anonymous_id: str | None) -> bool:
    ids = {k: v for k, v in (("userId", user_id), ("anonymousId", anonymous_id)) if v}
    return bool(ids) and services.gate.suppressed(ids)


def _people(
    services: Services, rows: Sequence[Mapping[str, Any]], traits: list[str], keys: list[str]
) -> tuple[dict[str, Person], set[str]]:
    """The run's people by profile id, and the profile ids of those suppressed (left out)."""
    people: dict[str, Person] = {}
    deleted: set[str] = set()
    for row in rows:
        person = person_of(row, traits, keys)
        if _suppressed(services, person.user_id, person.anonymous_id):
            deleted.add(person.profile_id)
        else:
            people[person.profile_id] = person
    return people, deleted


def _store(services: Services, moves: Sequence[Transition], at: datetime, run_id: str) -> None:
    table = f"{services.settings.dataset(PROCESSED)}.{TRANSITIONS_TABLE}"
    recorded = services.clock.now()
    rows: list[Row] = [
        {
            "transition_id": message_id(t.audience_key, t.profile_id, t.transition, at),
            "audience_key": t.audience_key,
            "profile_id": t.profile_id,
            "user_id": t.user_id,
            "transition": t.transition,
            "at": at,
            "run_id": run_id,
            "reason": t.reason,
            "recorded_at": recorded,
        }
        for t in moves
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        chunk = rows[start : start + INSERT_BATCH]
        errors = services.warehouse.insert_rows(
            table, chunk, [str(r["transition_id"]) for r in chunk]
        )
        if errors:
            raise TransitionsRefused(REFUSED.format(n=len(errors), error=errors[0]))
