"""Who a run leaves out: a person is suppressed when any of their identifiers is (the row's,
and every userId and anonymousId the identity map gives their profile, read in one query).
A suppressed person's memberships exit as ``deleted``, silently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.audiences.memberships import Member, Person, person_of
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW

if TYPE_CHECKING:
    from shared.bootstrap import Services

IDENTIFIERS_SQL = """
SELECT profile_id, identifier_type, identifier_value FROM `{identity_map}`
WHERE valid_to IS NULL AND identifier_type IN ('user_id', 'anonymous_id')
"""
FIELDS = {"user_id": "userId", "anonymous_id": "anonymousId"}

Probe = dict[str, str]  # {"userId": ...} or {"anonymousId": ...}: what the suppression reads


def identifiers(services: Services) -> dict[str, list[Probe]]:
    """Profile id → each userId and anonymousId the identity map gives it now (one query)."""
    sql = IDENTIFIERS_SQL.format(identity_map=services.settings.table(CURATED, IDENTITY_MAP_VIEW))
    found: dict[str, list[Probe]] = {}
    for r in services.sql.query(sql):
        probe = {FIELDS[str(r["identifier_type"])]: str(r["identifier_value"])}
        found.setdefault(str(r["profile_id"]), []).append(probe)
    return found


def probes(
    user_ids: Iterable[str | None], anonymous_ids: Iterable[str | None], mapped: Iterable[Probe]
) -> list[Probe]:
    ids = [{"userId": u} for u in user_ids if u] + [{"anonymousId": a} for a in anonymous_ids if a]
    return ids + list(mapped)


def suppressed(services: Services, found: Iterable[Probe]) -> bool:
    """Whether any of a person's identifiers is suppressed."""
    return any(services.gate.suppressed(dict(p)) for p in found)


def people_of(
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
        if suppressed(
            services, probes([p.user_id], [p.anonymous_id], mapped.get(p.profile_id, ()))
        ):
            deleted.add(p.profile_id)
        else:
            people[p.profile_id] = p
    return people, deleted


def suppressed_gone(
    services: Services,
    gone: Iterable[str],
    held: Iterable[Member],
    anonymous: Mapping[str, str],
    mapped: Mapping[str, Sequence[Probe]],
) -> set[str]:
    """The profiles among ``gone`` (members no longer in the run's rows) that are suppressed, by
    the userIds their memberships were stored with, their anonymousId and the identity map's."""
    stored: dict[str, set[str | None]] = {}  # gone profile → the userIds its rows were stored with
    for m in held:
        stored.setdefault(m.profile_id, set()).add(m.user_id)
    return {
        pid
        for pid in gone
        if suppressed(services, probes(stored[pid], [anonymous.get(pid)], mapped.get(pid, ())))
    }
