"""The merge rule, as one pure function: given an event's identifiers and the profiles that
already hold some of them, which profiles become one, which identifiers join, which are left out.

Identifiers are taken highest priority first. Each one brings its whole profile (or, if it is
new, itself) into the person being assembled, unless that would break a per-type limit (a second
userId, a sixth email): then that identifier — the lowest-priority one of the conflict, since
everything before it was accepted — is left out, its profile is not merged, and the conflict is
recorded. Two profiles each holding a different userId are therefore never merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier

Holdings = Mapping[str, Sequence[str]]  # identifier type → values, as a profile holds them


@dataclass(frozen=True)
class Conflict:
    identifier: Identifier
    profile_id: str | None  # the profile it belongs to, if any (not merged)
    type: str  # the identifier type whose limit would have been broken
    limit: int


@dataclass(frozen=True)
class Plan:
    target: str | None  # the surviving profile; None: a new profile is created
    absorbed: tuple[str, ...] = ()  # profiles merged into the target, in priority order
    added: tuple[Identifier, ...] = ()  # identifiers new to the graph, attached to the target
    accepted: tuple[Identifier, ...] = ()  # every identifier of the event now on the target
    left_out: tuple[Conflict, ...] = field(default=())

    @property
    def kind(self) -> str:
        if self.target is None:
            return "created" if self.added else "none"
        if self.absorbed:
            return "merged"
        return "linked" if self.added else "none"


def _violation(
    combined: Mapping[str, set[str]], extra: Mapping[str, Sequence[str]], config: IdentityConfig
) -> tuple[str, int] | None:
    for kind, values in extra.items():
        limit = config.limit(kind)
        if limit is not None and len(combined.get(kind, set()) | set(values)) > limit:
            return kind, limit
    return None


def plan_event(
    identifiers: Sequence[Identifier],
    owners: Mapping[Identifier, str | None],
    holdings: Mapping[str, Holdings],
    config: IdentityConfig,
) -> Plan:
    """``identifiers`` highest priority first; ``owners`` maps each to its root profile (or
    None if new); ``holdings`` gives each root profile's identifiers."""
    combined: dict[str, set[str]] = {}
    included: list[str] = []
    added: list[Identifier] = []
    accepted: list[Identifier] = []
    left_out: list[Conflict] = []
    for identifier in identifiers:
        owner = owners.get(identifier)
        if owner in included:
            accepted.append(identifier)
            continue
        extra: Mapping[str, Sequence[str]] = (
            holdings.get(owner, {}) if owner is not None else {identifier.type: [identifier.value]}
        )
        if owner is not None and identifier.value not in extra.get(identifier.type, ()):
            extra = {**extra, identifier.type: [*extra.get(identifier.type, ()), identifier.value]}
        broken = _violation(combined, extra, config)
        if broken is not None:
            left_out.append(Conflict(identifier, owner, *broken))
            continue
        for kind, values in extra.items():
            combined.setdefault(kind, set()).update(values)
        accepted.append(identifier)
        if owner is None:
            added.append(identifier)
        else:
            included.append(owner)
    return Plan(
        target=included[0] if included else None,
        absorbed=tuple(included[1:]),
        added=tuple(added),
        accepted=tuple(accepted),
        left_out=tuple(left_out),
    )
