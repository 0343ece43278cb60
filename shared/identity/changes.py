"""Identity changes: what the identity function publishes so the warehouse and destinations keep
up with who is who.

Every change is a set of *assignments* — identifier → profile id, from a moment on. A new
profile assigns its identifiers; a link assigns one more; a merge reassigns the absorbed
profile's identifiers to the survivor; an unmerge reassigns identifiers to the profiles
recomputed from the remaining evidence. The warehouse keeps every assignment, so the identity
map has validity in time (``valid_from``/``valid_to``) and any event, cold ones included, joins to
the person its identifiers belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.envelope import encode
from shared.ports.publisher import OutboundMessage
from shared.topology import IDENTITY_CHANGES

KIND = "identity"
CHANGES = ("created", "linked", "merged", "unmerged")


@dataclass(frozen=True)
class Assignment:
    type: str  # identifier type: user_id, anonymous_id, email, phone, device_id, ...
    value: str
    profile_id: str


@dataclass(frozen=True)
class IdentityChange:
    change_id: str  # deterministic for the same cause, so a redelivery dedups downstream
    change: str  # one of CHANGES
    at: str  # ISO-8601 UTC: when it took effect (the event time of its evidence)
    assignments: tuple[Assignment, ...]
    profile_id: str  # the surviving / affected profile
    absorbed_profile_id: str | None = None  # set on merges
    message_id: str | None = None  # the event that caused it
    source_id: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Wall-clock time (microseconds) the identity function decided it: orders changes that took
    # effect at the same event time, e.g. a page and the alias an SDK sent in the same millisecond.
    decided_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdentityChange:
        fields = dict(data)
        fields["assignments"] = tuple(Assignment(**a) for a in data.get("assignments", []))
        return cls(**fields)


def decided_now() -> str:
    """Now, to the microsecond, as the ``decided_at`` of a change made in this transaction."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_changes(changes: Sequence[IdentityChange]) -> OutboundMessage:
    return encode(IDENTITY_CHANGES, KIND, [c.to_json() for c in changes])
