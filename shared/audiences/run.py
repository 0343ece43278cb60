"""One audience run (the hourly job ``audiences``, ``cdp audiences run [--as-of T]``).

A present-time run (no ``as_of``):
1. refreshes the all-time trait state up to the last settled hour loaded (``state.py``);
2. computes every person's traits and audiences as of now (``compile_run``, with the state);
3. diffs them against the open memberships of the ``present`` lineage (``memberships.py``),
   suppressed people left out first (they exit as ``deleted``): a person is suppressed when any
   of their identifiers is (the row's, and every userId and anonymousId the identity map gives
   their profile, read in one query);
4. exits the members of audiences no longer defined (reason ``removed``, announced once);
5. records ``audience_runs/pending`` (its as-of and run id), then announces the person-level
   transitions as events through ingest (``emit.py``);
6. appends the transitions to ``cdp_processed.audience_transitions`` (insertId: their id);
7. writes ``computed_traits`` and ``audiences`` to the profiles that changed (``profiles.py``);
8. records itself in ``audience_runs/latest`` and clears ``pending``.
A run stopped after announcing and before its end leaves ``pending``: the next present run
redoes that run at its as-of (the same messageIds, which destinations and the warehouse
deduplicate) instead of a fresh one; the schedule after it runs fresh.

A run ``as_of`` a past moment computes over the whole raw history (no state: the state holds
events loaded up to now) and stores who was a member then as a lineage of its own (its run id;
everyone enters at that moment), so it never moves the present runs' memberships; it emits
nothing and writes no profile (profiles show the present). As-of runs may be made in any order;
one in the future is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.audiences.compiler import compile_run, compile_state, state_keys
from shared.audiences.definitions import Definitions, load_definitions
from shared.audiences.emit import AudienceLike, Event, emit, events_for
from shared.audiences.memberships import (
    DELETED,
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
from shared.audiences.tables import (
    AS_OF_PREFIX,
    MEMBERSHIPS_VIEW,
    PRESENT,
    TRANSITIONS_TABLE,
    lineage_of,
)
from shared.errors import PermanentError
from shared.ingest.events import iso
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import Row
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW, PROCESSED

if TYPE_CHECKING:
    from shared.bootstrap import Services

LATEST = "latest"
PENDING = "pending"  # {as_of, run_id} of a present run that announced and has not finished
PRESENT_AS_OF = "present_as_of"  # in ``latest``: the last present run's as-of
REMOVED = "removed"  # the reason of an exit from an audience no longer defined
INSERT_BATCH = 500
MEMBERS_SQL = """
SELECT audience_key, profile_id, user_id, entered_at FROM `{view}`
WHERE exited_at IS NULL AND lineage = @lineage
"""
IDENTIFIERS_SQL = """
SELECT profile_id, identifier_type, identifier_value FROM `{identity_map}`
WHERE valid_to IS NULL AND identifier_type IN ('user_id', 'anonymous_id')
"""
FIELDS = {"user_id": "userId", "anonymous_id": "anonymousId"}
CLOCK_BEHIND = (
    "this run's as-of {as_of} is before the last present run's {last}: the clock went back "
    "(present runs are a history in time order)."
)
IN_THE_FUTURE = "--as-of {as_of} is in the future (now: {now})."
REFUSED = "The transitions table refused {n} rows, e.g. {error}"

Probe = dict[str, str]  # {"userId": ...} or {"anonymousId": ...}: what the suppression reads


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
    redo: bool = False  # a pending run done again at its as-of

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Undefined:
    """What emitting reads of an audience no longer defined: its key stands for its name."""

    name: str
    high_value_threshold: float | None = None
    carry: tuple[str, ...] = ()


def run_audiences(
    services: Services, *, as_of: datetime | None = None, defs: Definitions | None = None
) -> RunReport:
    started = time.monotonic()
    s = services
    now = s.clock.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as its ISO text says
    present = as_of is None
    defs = defs or _definitions(s)
    got = s.documents.get_all([(RUNS, LATEST), (RUNS, PENDING)])
    last, pending = got[(RUNS, LATEST)] or {}, got[(RUNS, PENDING)]
    reads, writes = 2, 0
    redo = present and pending is not None
    at = _parse(str(pending["as_of"])) if present and pending else as_of or now
    _check(at, now, last, present)
    run_id = str(pending["run_id"]) if present and pending else _run_id(at, present)
    report = RunReport(run_id=run_id, as_of=iso(at), emitted=present, redo=redo)
    params: dict[str, Any] = {"as_of": at}
    if present:
        refreshed = refresh_state(
            s.settings,
            s.sql,
            s.warehouse,
            s.documents,
            compile_state(defs, s.settings),
            at,
            keys=state_keys(defs),
        )
        reads, writes = reads + 1, writes + refreshed.moved
        report.state_rows = refreshed.rows
        params["state_until"] = refreshed.state_until
    rows = s.sql.query(compile_run(defs, s.settings, use_state=present), params)
    keys = list(defs.audiences)
    held = _members(s) if present else []  # an as-of run is a lineage of its own: all enter
    members = [m for m in held if m.audience_key in defs.audiences]
    probes = _identifiers(s)
    people, deleted = _people(s, rows, list(defs.traits), keys, probes)
    gone = sorted({m.profile_id for m in held if m.profile_id not in people} - deleted)
    merged, anonymous, read = merged_roots(s.documents, gone)
    reads += read
    stored: dict[str, set[str | None]] = {}  # gone profile → the userIds its rows were stored with
    for m in held:
        stored.setdefault(m.profile_id, set()).add(m.user_id)
    deleted |= {pid for pid in gone if _suppressed(
        s, _probes(stored[pid], [anonymous.get(pid)], probes.get(pid, ())))}  # fmt: skip
    moves = diff(people, members, merged_into=merged, deleted=deleted, anonymous_ids=anonymous)
    removed = _removed([m for m in held if m.audience_key not in defs.audiences], people,
                       deleted, anonymous)  # fmt: skip
    announcing = False
    if present:
        events = _events(moves, removed, people, defs, at)
        announcing = bool(events)
        if announcing:
            s.documents.set(RUNS, PENDING, {"as_of": iso(at), "run_id": run_id})
            writes += 1
            report.events_emitted = emit(s.ingest, events).accepted
    moves += removed
    _store(s, moves, at, run_id)
    if present:
        sync = ProfileSync(s.documents)
        now_held = after(held, moves, at)
        desired = {pid: fields_of(p, now_held.get(pid, {})) for pid, p in people.items()}
        report.profiles_written = sync.sync(desired, gone=sorted({*gone, *deleted}))
        reads, writes = reads + sync.reads, writes + sync.writes
    report.sizes = sizes(people, keys)
    report.entered, report.exited = counts(moves, ENTERED), counts(moves, EXITED)
    report.transitions = len(moves)
    clear = redo or announcing
    report.firestore_reads, report.firestore_writes = reads, writes + 1 + clear
    report.seconds = round(time.monotonic() - started, 3)
    previous = iso(at) if present else _last_present(last)
    record = {**report.to_json(), "finished_at": iso(s.clock.now()), PRESENT_AS_OF: previous}
    s.documents.set(RUNS, LATEST, record)
    if clear:
        s.documents.delete(RUNS, PENDING)
    return report


def _definitions(services: Services) -> Definitions:
    named = services.settings.audience_definitions
    return load_definitions(Path(named) if named else None)


def current_lineage(documents: DocumentStore) -> str:
    """The memberships to show as current: an as-of run's snapshot right after it, else the
    present runs' (``present``)."""
    return lineage_of(str((documents.get(RUNS, LATEST) or {}).get("run_id") or ""))


def _run_id(at: datetime, present: bool) -> str:
    return ("run-" if present else AS_OF_PREFIX) + iso(at).replace("-", "").replace(":", "")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _last_present(last: Mapping[str, Any]) -> str:
    """The as-of of the last present run, from the run record (older records: its own)."""
    found = last.get(PRESENT_AS_OF) or (last.get("as_of") if last.get("emitted") else "")
    return str(found or "")


def _check(at: datetime, now: datetime, last: Mapping[str, Any], present: bool) -> None:
    if not present and at > now:
        raise AsOfRefused(IN_THE_FUTURE.format(as_of=iso(at), now=iso(now)))
    previous = _last_present(last)
    if present and previous and iso(at) < previous:
        raise AsOfRefused(CLOCK_BEHIND.format(as_of=iso(at), last=previous))


def _members(services: Services) -> list[Member]:
    """The open memberships of the present lineage."""
    view = services.settings.table(CURATED, MEMBERSHIPS_VIEW)
    return [
        Member(str(r["audience_key"]), str(r["profile_id"]), r.get("user_id"), r["entered_at"])
        for r in services.sql.query(MEMBERS_SQL.format(view=view), {"lineage": PRESENT})
    ]


def _identifiers(services: Services) -> dict[str, list[Probe]]:
    """Profile id → each userId and anonymousId the identity map gives it now (one query)."""
    sql = IDENTIFIERS_SQL.format(identity_map=services.settings.table(CURATED, IDENTITY_MAP_VIEW))
    found: dict[str, list[Probe]] = {}
    for r in services.sql.query(sql):
        probe = {FIELDS[str(r["identifier_type"])]: str(r["identifier_value"])}
        found.setdefault(str(r["profile_id"]), []).append(probe)
    return found


def _probes(
    user_ids: Iterable[str | None], anonymous_ids: Iterable[str | None], mapped: Iterable[Probe]
) -> list[Probe]:
    ids = [{"userId": u} for u in user_ids if u] + [{"anonymousId": a} for a in anonymous_ids if a]
    return ids + list(mapped)


def _suppressed(services: Services, probes: Iterable[Probe]) -> bool:
    """Whether any of a person's identifiers is suppressed."""
    return any(services.gate.suppressed(dict(p)) for p in probes)


def _people(
    services: Services,
    rows: Sequence[Mapping[str, Any]],
    traits: list[str],
    keys: list[str],
    mapped: Mapping[str, Sequence[Probe]],
) -> tuple[dict[str, Person], set[str]]:
    """The run's people by profile id, and the profile ids of those suppressed (left out)."""
    people: dict[str, Person] = {}
    deleted: set[str] = set()
    for row in rows:
        p = person_of(row, traits, keys)
        if _suppressed(
            services, _probes([p.user_id], [p.anonymous_id], mapped.get(p.profile_id, ()))
        ):
            deleted.add(p.profile_id)
        else:
            people[p.profile_id] = p
    return people, deleted


def _removed(
    members: Iterable[Member],
    people: Mapping[str, Person],
    deleted: Set[str],
    anonymous_ids: Mapping[str, str],
) -> list[Transition]:
    """Exits of the members of audiences no longer defined: ``removed`` (announced), or
    ``deleted`` for a suppressed person (silent)."""
    out: list[Transition] = []
    for m in sorted(members, key=lambda m: (m.audience_key, m.profile_id)):
        p = people.get(m.profile_id)
        user = (p.user_id if p else None) or m.user_id
        anon = p.anonymous_id if p else anonymous_ids.get(m.profile_id)
        reason = DELETED if m.profile_id in deleted else REMOVED
        out.append(Transition(m.audience_key, m.profile_id, user, anon, EXITED, reason))
    return out


def _events(
    moves: Sequence[Transition],
    removed: Sequence[Transition],
    people: Mapping[str, Person],
    defs: Definitions,
    at: datetime,
) -> list[Event]:
    """The events of the announced transitions; a removed audience's exits as plain exits."""
    gone = [replace(t, reason="") for t in removed if t.reason == REMOVED]
    undefined: dict[str, AudienceLike] = {t.audience_key: Undefined(t.audience_key) for t in gone}
    return events_for(moves, people, defs.audiences, at) + events_for(gone, people, undefined, at)


def _store(services: Services, moves: Sequence[Transition], at: datetime, run_id: str) -> None:
    """Append the transitions; their id is the track's messageId (an as-of run's, that id and
    ``-as-of``: a present run may have the same as-of)."""
    table = f"{services.settings.dataset(PROCESSED)}.{TRANSITIONS_TABLE}"
    recorded = services.clock.now()
    suffix = "" if lineage_of(run_id) == PRESENT else "-as-of"
    rows: list[Row] = [
        {
            "transition_id": message_id(t.audience_key, t.profile_id, t.transition, at) + suffix,
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
