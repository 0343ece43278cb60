"""One audience run (the hourly job ``audiences``, ``cdp audiences run [--as-of T]``).

A present-time run (no ``as_of``):
1. refreshes the all-time trait state up to the last settled hour loaded (``state.py``);
2. computes every person's traits and audiences as of now (``compile_run``, with the state);
3. diffs them against the open memberships of the ``present`` lineage (``memberships.py``),
   suppressed people left out first (they exit as ``deleted``): a person is suppressed when any
   of their identifiers is (the row's, and every userId and anonymousId the identity map gives
   their profile, read in one query: ``suppression.py``);
4. exits the members of audiences no longer defined (reason ``removed``, announced once:
   ``removals.py``);
5. records ``audience_runs/pending`` (its as-of and run id), then announces the person-level
   transitions as events through ingest (``emit.py``);
6. appends the transitions to ``cdp_processed.audience_transitions`` (insertId: their id;
   ``history.py``, which also reads the open memberships);
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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.audiences.compiler import compile_run, compile_state, state_keys
from shared.audiences.definitions import Definitions, configured_definitions
from shared.audiences.emit import emit
from shared.audiences.history import open_members, store_transitions
from shared.audiences.memberships import ENTERED, EXITED, after, counts, diff, sizes
from shared.audiences.profiles import ProfileSync, fields_of, merged_roots
from shared.audiences.removals import announced_events, removed_exits
from shared.audiences.state import RUNS, refresh_state
from shared.audiences.suppression import identifiers, people_of, suppressed_gone
from shared.audiences.tables import AS_OF_PREFIX, lineage_of
from shared.errors import PermanentError
from shared.ingest.events import iso
from shared.ports.documents import DocumentStore

if TYPE_CHECKING:
    from shared.bootstrap import Services

LATEST = "latest"
PENDING = "pending"  # {as_of, run_id} of a present run that announced and has not finished
PRESENT_AS_OF = "present_as_of"  # in ``latest``: the last present run's as-of
CLOCK_BEHIND = (
    "this run's as-of {as_of} is before the last present run's {last}: the clock went back "
    "(present runs are a history in time order)."
)
IN_THE_FUTURE = "--as-of {as_of} is in the future (now: {now})."


class AsOfRefused(PermanentError):
    """An as-of moment the membership history cannot take."""


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


def run_audiences(
    services: Services, *, as_of: datetime | None = None, defs: Definitions | None = None
) -> RunReport:
    started = time.monotonic()
    s = services
    now = s.clock.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as its ISO text says
    present = as_of is None
    defs = defs or configured_definitions(s.settings)
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
    held = open_members(s) if present else []  # an as-of run is a lineage of its own: all enter
    members = [m for m in held if m.audience_key in defs.audiences]
    mapped = identifiers(s)
    people, deleted = people_of(s, rows, list(defs.traits), keys, mapped)
    gone = sorted({m.profile_id for m in held if m.profile_id not in people} - deleted)
    merged, anonymous, read = merged_roots(s.documents, gone)
    reads += read
    deleted |= suppressed_gone(s, gone, held, anonymous, mapped)
    moves = diff(people, members, merged_into=merged, deleted=deleted, anonymous_ids=anonymous)
    undefined = [m for m in held if m.audience_key not in defs.audiences]
    removed = removed_exits(undefined, people, deleted, anonymous)
    announcing = False
    if present:
        events = announced_events(moves, removed, people, defs, at)
        announcing = bool(events)
        if announcing:
            s.documents.set(RUNS, PENDING, {"as_of": iso(at), "run_id": run_id})
            writes += 1
            report.events_emitted = emit(s.ingest, events).accepted
    moves += removed
    store_transitions(s, moves, at, run_id)
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
