"""The identity consumer, and what operators ask of it.

Each engaged event is resolved in its own transaction; the identity changes of the whole
message are published once every transaction has committed. If one fails, the error
propagates and Pub/Sub redelivers the message: events already applied change nothing the
second time and republish their changes with the same ``change_id`` (downstream dedups).
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.envelope import Envelope, Event, dumps, encode_serialized
from shared.errors import NotFound
from shared.identity.changes import IdentityChange, encode_changes
from shared.identity.evidence import evidence_id, explain
from shared.identity.identifiers import Identifier
from shared.identity.profiles import Outcome, ProfileRepository
from shared.identity.records import Doc, iso, public_view
from shared.identity.unmerge import Unmerger
from shared.ports.clock import Clock
from shared.ports.publisher import OutboundMessage, Publisher
from shared.topology import PROFILED_EVENTS


def batch_key(envelope: Envelope) -> str:
    """What identifies an engaged message's events: a hash of their messageIds (ingest gives
    every event one), or the Pub/Sub message id when one is missing."""
    ids = [e.get("messageId") for e in envelope.events if isinstance(e, dict)]
    if not ids or not all(isinstance(i, str) and i for i in ids):
        return envelope.message_id
    digest = hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode()).hexdigest()
    return f"batch-{digest[:32]}"


def profiled(envelope: Envelope, events: list[Event], outcomes: list[Outcome]) -> OutboundMessage:
    """The message's events for the destinations, each with the person identity resolved it to
    (``meta.people``: profile id → consent and trait values; ``meta.profile_of``: per event),
    and the engaged message it came from (``meta.source_message``: a key of its events'
    messageIds, the same on every redelivery and when ingest published the same batch twice,
    which it does when a publish it gave up on went through after all and the SDK sent the
    batch again; so a destination's ledger knows what it already sent)."""
    by_event = {o.event_id: o for o in outcomes}
    people: dict[str, Any] = {}
    profile_of: list[str | None] = []
    for event in events:
        outcome = by_event.get(evidence_id(event))
        profile_of.append(outcome.profile_id if outcome else None)
        if outcome:
            people[outcome.profile_id] = outcome.person  # the latest of the message wins
    meta = {"people": people, "profile_of": profile_of, "source_message": batch_key(envelope)}
    attributes = {k: v for k, v in envelope.attributes.items() if k not in ("kind", "count")}
    return encode_serialized(
        PROFILED_EVENTS, "events", [dumps(e) for e in events], meta, **attributes
    )


class IdentityHandler:
    def __init__(
        self,
        profiles: ProfileRepository,
        publisher: Publisher,
        clock: Clock,
        destinations: bool = False,
    ) -> None:
        """``destinations``: some destination is enabled, so the resolved events go on to them
        (``profiled-events``); otherwise that message would cost a publish for nothing."""
        self.profiles = profiles
        self._publisher = publisher
        self._clock = clock
        self._destinations = destinations

    def handle(self, envelope: Envelope) -> int:
        """Returns how many events were attached to a profile."""
        if envelope.kind != "events":
            return 0
        events = [e for e in envelope.events if isinstance(e, dict)]
        outcomes = self.profiles.record_all(events)
        self.publish([c for outcome in outcomes for c in outcome.changes])
        if self._destinations:
            self._publisher.publish([profiled(envelope, events, outcomes)])
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
