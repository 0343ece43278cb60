"""Audiences no longer defined: their members exit once (reason ``removed``, announced as plain
exits; ``deleted``, silently, for a suppressed person), and the run's events include them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime

from shared.audiences.definitions import Definitions
from shared.audiences.emit import AudienceLike, Event, events_for
from shared.audiences.memberships import DELETED, EXITED, Member, Person, Transition

REMOVED = "removed"  # the reason of an exit from an audience no longer defined


@dataclass(frozen=True)
class Undefined:
    """What emitting reads of an audience no longer defined: its key stands for its name."""

    name: str
    high_value_threshold: float | None = None
    carry: tuple[str, ...] = ()


def removed_exits(
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


def announced_events(
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
