"""The tier rule and the promotion rule: pure functions of one event, table-tested.

An event is *engaged* (full pipeline) when it has a ``userId``; or it is an identify or alias
call; or it comes from a source kind that is always engaged (server); or its ``anonymousId`` was
promoted; or it is a configured engagement event. Everything else is *cold* (GA4 and the cold
archive). Whether an id was promoted is the only input that needs state; the router looks it up
once per request and passes the answer in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from shared.settings import Settings

Event = dict[str, Any]
NEVER_COLD_TYPES = frozenset({"identify", "alias"})
_SEPARATORS = re.compile(r"[\s\-.]+")


class Tier(StrEnum):
    ENGAGED = "engaged"
    COLD = "cold"


class Reason(StrEnum):
    """Why an anonymous id was promoted (kept on its promotion record)."""

    IDENTIFIED = "identified"  # an identify call for it
    LINKED = "linked"  # an event carrying both it and a userId
    ALIASED = "aliased"  # the previousId of an alias call
    ENGAGEMENT_EVENT = "engagement_event"  # it fired a configured engagement event
    THRESHOLD = "threshold"  # the scheduled sweep found enough sessions


@lru_cache(maxsize=4096)  # a deployment has tens of event names, seen millions of times
def normalise_name(name: str) -> str:
    """'Account Created', 'account-created' and 'account_created' are one event."""
    return _SEPARATORS.sub("_", name.strip()).lower()


@dataclass(frozen=True)
class TierPolicy:
    engagement_events: frozenset[str]
    engaged_source_kinds: frozenset[str] = frozenset({"server"})
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> TierPolicy:
        return cls(
            engagement_events=frozenset(normalise_name(e) for e in settings.tier_engagement_events),
            engaged_source_kinds=frozenset(settings.tier_engaged_source_kinds),
            enabled=settings.tier_enabled,
        )

    def is_engagement_event(self, event: Event) -> bool:
        name = event.get("event")
        return (
            event.get("type") == "track"
            and isinstance(name, str)
            and normalise_name(name) in self.engagement_events
        )


def _id(event: Event, field: str) -> str | None:
    value = event.get(field)
    return str(value) if value not in (None, "") else None


def anonymous_id(event: Event) -> str | None:
    return _id(event, "anonymousId")


def engaged_without_state(event: Event, source_kind: str, policy: TierPolicy) -> bool:
    """Engaged whatever the promotion state: the router skips the lookup for these."""
    user = event.get("userId")
    return (
        not policy.enabled
        or (user is not None and user != "")
        or event.get("type") in NEVER_COLD_TYPES
        or source_kind in policy.engaged_source_kinds
        or policy.is_engagement_event(event)
    )


def tier_of(event: Event, source_kind: str, promoted: bool, policy: TierPolicy) -> Tier:
    """The tier of one (valid, enriched) event."""
    if engaged_without_state(event, source_kind, policy) or promoted:
        return Tier.ENGAGED
    return Tier.COLD


def own_promotion(event: Event, policy: TierPolicy) -> Reason | None:
    """Why this event promotes its own ``anonymousId`` (if it carries one), or None."""
    if event.get("type") == "identify":
        return Reason.IDENTIFIED
    user = event.get("userId")
    if user is not None and user != "":
        return Reason.LINKED
    if policy.is_engagement_event(event):
        return Reason.ENGAGEMENT_EVENT
    return None


def promotions_of(event: Event, policy: TierPolicy) -> list[tuple[str, Reason]]:
    """The anonymous ids this event promotes, with why (most events promote nothing)."""
    found: list[tuple[str, Reason]] = []
    anon = anonymous_id(event)
    if anon is not None:
        reason = own_promotion(event, policy)
        if reason is not None:
            found.append((anon, reason))
    previous = _id(event, "previousId")
    if event.get("type") == "alias" and previous not in (None, _id(event, "userId"), anon):
        found.append((previous, Reason.ALIASED))
    return found
