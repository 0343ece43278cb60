"""Which events a destination takes, decided per event without I/O.

- ``types``: Segment call types (``track``, ``identify``, ...); empty means all.
- ``events``: track event names; empty means all (other call types are not named, so a name
  list never excludes them: restrict ``types`` for that). An audience key in the list takes
  that audience's ``Audience Entered`` / ``Audience Exited`` events.
- ``consent_category``: consent is the person's, not the device's. An event is sent unless it
  (``context.consent.categoryPreferences``) or its person's profile (as identity resolved it,
  every device's choices merged by time) refuses the category. Absence of a choice means
  allowed, except for the categories listed in ``opt_in`` (GDPR opt-in: only an explicit yes
  lets events through).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.destinations.framework import Person
from shared.identity.records import consent_of

AUDIENCE_EVENTS = frozenset({"Audience Entered", "Audience Exited"})


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    consent_category: str = ""
    opt_in: bool = False  # the category needs an explicit grant

    @classmethod
    def of(
        cls,
        types: Sequence[str] = (),
        events: Sequence[str] = (),
        consent_category: str = "",
        opt_in: Sequence[str] = (),
    ) -> EventFilter:
        category = consent_category.strip().lower()
        return cls(frozenset(types), frozenset(events), category, category in set(opt_in))

    def _shape(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("type")
        if self.types and kind not in self.types:
            return False
        return not (self.events and kind == "track" and not self._named(event))

    def _named(self, event: Mapping[str, Any]) -> bool:
        name = event.get("event")
        if name in self.events:
            return True
        properties = event.get("properties")
        key = properties.get("audience_key") if isinstance(properties, dict) else None
        return name in AUDIENCE_EVENTS and key in self.events

    def admits(self, event: Mapping[str, Any], person: Person) -> bool:
        """The whole decision for one event of a person."""
        if not self._shape(event):
            return False
        own = consent_of(event).get(self.consent_category) if self.consent_category else None
        return self.allows(own, person.consent.get(self.consent_category))

    def allows(self, own: Any, theirs: Any) -> bool:
        if not self.consent_category:
            return True
        if own is False or theirs is False:
            return False
        return not self.opt_in or own is True or theirs is True
