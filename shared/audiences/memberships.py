"""Who is in which audience after a run, and what changed: pure functions, table-tested.

A run's query gives one row per person (``compile_run``: ``profile_id``, ``user_id``,
``anonymous_id``, ``t_<trait>``, ``a_<audience>``); the membership history gives who was a
member before (the open rows of ``cdp_curated.audience_memberships``). ``diff`` turns the two
into transitions. Three cases are not a person entering or leaving, and are written with a
reason so that nothing is announced for them:

- ``merged``: a member profile was absorbed into another profile (the identity graph merged two
  devices or ids of one person) that is a member now: the old profile exits, the survivor enters
  if it was not a member already, and the person saw no change.
- ``deleted``: a suppressed person (a privacy request) exits every audience silently: a deleted
  person is never a member and is never sent anywhere again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.audiences.values import json_safe
from shared.ingest.events import iso

ENTERED = "entered"
EXITED = "exited"
MERGED = "merged"
DELETED = "deleted"
TRAIT_PREFIX = "t_"
AUDIENCE_PREFIX = "a_"


@dataclass(frozen=True)
class Person:
    """One row of the run's query: a current profile, its computed traits (JSON-safe, unset
    ones left out) and the audiences it is in."""

    profile_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    traits: Mapping[str, Any] = field(default_factory=dict)
    audiences: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Member:
    """An open membership (entered, not exited)."""

    audience_key: str
    profile_id: str
    user_id: str | None
    entered_at: datetime


@dataclass(frozen=True)
class Transition:
    audience_key: str
    profile_id: str
    user_id: str | None
    anonymous_id: str | None
    transition: str  # entered | exited
    reason: str = ""  # '' | merged | deleted

    @property
    def announced(self) -> bool:
        """Whether the person sees it (an event goes out): not for merges nor deletions."""
        return self.reason == ""


def person_of(row: Mapping[str, Any], traits: Iterable[str], audiences: Iterable[str]) -> Person:
    """A run row as a Person; a trait without a value (NULL, or an empty list) is unset."""
    values = {k: json_safe(row.get(TRAIT_PREFIX + k)) for k in traits}
    return Person(
        profile_id=str(row["profile_id"]),
        user_id=row.get("user_id") or None,
        anonymous_id=row.get("anonymous_id") or None,
        traits={k: v for k, v in values.items() if v is not None and v != []},
        audiences=frozenset(a for a in audiences if row.get(AUDIENCE_PREFIX + a) is True),
    )


def diff(
    people: Mapping[str, Person],
    members: Iterable[Member],
    *,
    merged_into: Mapping[str, str] | None = None,
    deleted: Set[str] = frozenset(),
    anonymous_ids: Mapping[str, str] | None = None,
) -> list[Transition]:
    """The transitions from ``members`` (open memberships) to ``people`` (profile id → person,
    suppressed people already left out): exits first, then entries, each by audience and profile.

    ``merged_into``: profile id → the profile it was absorbed into, for member profiles the run
    no longer returns; ``deleted``: profile ids of suppressed people; ``anonymous_ids``: an
    anonymous id of such gone profiles (to address an exit when there is no userId)."""
    merged_into = merged_into or {}
    anonymous_ids = anonymous_ids or {}
    open_ = {(m.audience_key, m.profile_id): m for m in members}
    exits: list[Transition] = []
    carried: set[tuple[str, str]] = set()  # (audience, survivor) a merged member carries into
    for (key, pid), member in sorted(open_.items()):
        person = people.get(pid)
        if person is not None and key in person.audiences:
            continue
        reason = ""
        survivor = people.get(merged_into.get(pid, "")) if person is None else None
        if pid in deleted:
            reason = DELETED
        elif survivor is not None and key in survivor.audiences:
            reason = MERGED
            carried.add((key, survivor.profile_id))
        user = person.user_id if person is not None else member.user_id
        anon = person.anonymous_id if person is not None else anonymous_ids.get(pid)
        exits.append(Transition(key, pid, user or member.user_id, anon, EXITED, reason))
    enters = [
        Transition(
            key,
            pid,
            person.user_id,
            person.anonymous_id,
            ENTERED,
            MERGED if (key, pid) in carried else "",
        )
        for pid, person in sorted(people.items())
        for key in sorted(person.audiences)
        if (key, pid) not in open_
    ]
    return exits + enters


def after(
    members: Iterable[Member], transitions: Sequence[Transition], at: datetime
) -> dict[str, dict[str, datetime]]:
    """Profile id → audience → entered_at, once ``transitions`` (made at ``at``) apply."""
    now: dict[str, dict[str, datetime]] = {}
    for m in members:
        now.setdefault(m.profile_id, {})[m.audience_key] = m.entered_at
    for t in transitions:
        held = now.setdefault(t.profile_id, {})
        if t.transition == EXITED:
            held.pop(t.audience_key, None)
        else:
            held[t.audience_key] = at
    return {pid: held for pid, held in now.items() if held}


def message_id(audience_key: str, profile_id: str, transition: str, as_of: datetime) -> str:
    """The track's messageId, and the transition's id: the same run, person and change always
    give the same id (a retried insert or publish is absorbed by it)."""
    text = f"{audience_key}|{profile_id}|{transition}|{iso(as_of)}"
    return "aud-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def counts(transitions: Iterable[Transition], kind: str) -> dict[str, int]:
    """Per audience, the transitions of ``kind`` that are not merges (a merge moves a
    membership between two profiles of one person: nobody entered or left)."""
    found: dict[str, int] = {}
    for t in transitions:
        if t.transition == kind and t.reason != MERGED:
            found[t.audience_key] = found.get(t.audience_key, 0) + 1
    return dict(sorted(found.items()))


def sizes(people: Mapping[str, Person], keys: Iterable[str]) -> dict[str, int]:
    return {k: sum(1 for p in people.values() if k in p.audiences) for k in keys}
