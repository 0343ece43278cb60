"""Which events a destination takes, decided per event without I/O.

- ``types``: Segment call types (``track``, ``identify``, ...); empty means all.
- ``events``: track event names; empty means all (other call types are not named, so a name
  list never excludes them: restrict ``types`` for that).
- ``consent_category``: the event is sent unless the user refused that category in Segment's
  ``context.consent.categoryPreferences``. An event that says nothing about the category is
  sent: consent is recorded where it is collected, and absence is not refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.identity.records import consent_of


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    consent_category: str = ""

    @classmethod
    def of(
        cls, types: Sequence[str] = (), events: Sequence[str] = (), consent_category: str = ""
    ) -> EventFilter:
        return cls(frozenset(types), frozenset(events), consent_category)

    def takes(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("type")
        if self.types and kind not in self.types:
            return False
        if self.events and kind == "track" and event.get("event") not in self.events:
            return False
        if self.consent_category:
            return consent_of(event).get(self.consent_category) is not False
        return True

    def takes_person(self, consent: Mapping[str, Any]) -> bool:
        """Whether a person's consent (category → granted), as their profile holds it, lets
        their events through: only an explicit refusal of the category stops them."""
        return not self.consent_category or consent.get(self.consent_category) is not False
