"""The identity consumer, and what operators ask of it.

Each engaged event is resolved in its own transaction; the identity changes of the whole
message are published once every transaction has committed. If one fails, the error
propagates and Pub/Sub redelivers the message: events already applied change nothing the
second time and republish their changes with the same ``change_id`` (downstream dedups).
"""

from __future__ import annotations

from typing import Any

from shared.envelope import Envelope, Event
from shared.errors import NotFound
from shared.identity.changes import IdentityChange, encode_changes
from shared.identity.evidence import explain
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.records import Doc, iso, public_view
from shared.identity.unmerge import Unmerger
from shared.ports.clock import Clock
from shared.ports.publisher import Publisher


class IdentityHandler:
    def __init__(self, profiles: ProfileRepository, publisher: Publisher, clock: Clock) -> None:
        self.profiles = profiles
        self._publisher = publisher
        self._clock = clock

    def handle(self, envelope: Envelope) -> int:
        """Returns how many events were attached to a profile."""
        if envelope.kind != "events":
            return 0
        outcomes = self.profiles.record_all([e for e in envelope.events if isinstance(e, dict)])
        self.publish([c for outcome in outcomes for c in outcome.changes])
        return len(outcomes)

    def replay(self, events: list[Event]) -> int:
        """Stored events again, through the same path as live ones (a redelivery changes
        nothing); returns how many identity changes were published."""
        changes = [c for outcome in self.profiles.record_all(events) for c in outcome.changes]
        self.publish(changes)
        return len(changes)

    def publish(self, changes: list[IdentityChange]) -> None:
        if changes:
            self._publisher.publish([encode_changes(changes)])

    # For operators (`cdp profile ...`).

    def profile(self, identifier: Identifier) -> Doc:
        found = self.profiles.find(identifier)
        if found is None:
            raise NotFound(f"no profile holds {identifier.key}")
        return public_view(found)

    def explain(self, identifier: Identifier) -> dict[str, Any]:
        found = self.profiles.find(identifier)
        if found is None:
            raise NotFound(f"no profile holds {identifier.key}")
        return explain(found, identifier)

    def unmerge(self, identifier: Identifier, evidence: str) -> IdentityChange:
        """Remove one piece of evidence from the profile of ``identifier``, recompute its
        people, and publish the change."""
        at = iso(self._clock.now().isoformat())
        change = Unmerger(self.profiles.store, self.profiles.config).unmerge(
            identifier, evidence, at
        )
        self.publish([change])
        return change
