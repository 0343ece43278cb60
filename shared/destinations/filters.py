"""Which events a destination takes, decided per event without I/O.

- ``types``: Segment call types (``track``, ``identify``, ...); empty means all.
- ``events``: track event names; empty means all (other call types are not named, so a name
  list never excludes them: restrict ``types`` for that). An audience key in the list takes
  that audience's ``Audience Entered`` / ``Audience Exited`` events (``properties.audience_key``);
  ``Audience Entered`` in the list takes every audience's entries.
- ``audiences`` (``CDP_<NAME>_AUDIENCES``; ``None`` when unset): where set, the audience events
  it takes are exactly those of the keys listed, whatever ``events`` says, so a destination that
  takes every track (``events`` empty) can still take one audience only (Meta: the
  direct-deposit audience). ``[]`` takes no audience event. The audiences job's identifies
  (source ``audiences``: traits ``<audience_key>: true|false`` only) are narrowed likewise: one
  goes only if it sets a listed key, so a destination limited to one audience never hears of
  the others. Every other event, identifies from other sources included, is not affected.
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

from shared.audiences.names import AUDIENCE_EVENTS as AUDIENCE_EVENTS
from shared.audiences.names import AUDIENCES_SOURCE_ID
from shared.destinations.framework import Person
from shared.identity.records import consent_of


def audience_key(event: Mapping[str, Any]) -> str | None:
    """The audience an ``Audience Entered`` / ``Audience Exited`` event is about."""
    properties = event.get("properties")
    key = properties.get("audience_key") if isinstance(properties, dict) else None
    return key if isinstance(key, str) else None


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    consent_category: str = ""
    opt_in: bool = False  # the category needs an explicit grant
    audiences: frozenset[str] | None = None  # set: the only audience keys taken

    @classmethod
    def of(
        cls,
        types: Sequence[str] = (),
        events: Sequence[str] = (),
        consent_category: str = "",
        opt_in: Sequence[str] = (),
        audiences: Sequence[str] | None = None,
    ) -> EventFilter:
        category = consent_category.strip().lower()
        keys = None if audiences is None else frozenset(audiences)
        return cls(frozenset(types), frozenset(events), category, category in set(opt_in), keys)

    def _shape(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("type")
        if self.types and kind not in self.types:
            return False
        if kind == "identify" and self.audiences is not None:
            return self._audience_identify(event)
        if kind != "track":
            return True
        if self.audiences is not None and event.get("event") in AUDIENCE_EVENTS:
            return audience_key(event) in self.audiences
        return not self.events or self._named(event)

    def _audience_identify(self, event: Mapping[str, Any]) -> bool:
        """Whether an identify goes where ``audiences`` is set: one from the audiences job only
        if it sets a listed audience key (or sets nothing the job would: not its own)."""
        traits = event.get("traits")
        if event.get("sourceId") != AUDIENCES_SOURCE_ID or not isinstance(traits, dict):
            return True
        ours = {k for k, v in traits.items() if isinstance(v, bool)}
        if not ours or len(ours) < len(traits):
            return True  # not shaped as the job's: left alone
        return bool(ours & (self.audiences or frozenset()))

    def _named(self, event: Mapping[str, Any]) -> bool:
        name = event.get("event")
        if name in self.events:
            return True
        return name in AUDIENCE_EVENTS and audience_key(event) in self.events

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
