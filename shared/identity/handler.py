"""The identity consumer: each engaged event updates its person's profile."""

from __future__ import annotations

from shared.envelope import Envelope
from shared.identity.profiles import ProfileRepository


class IdentityHandler:
    def __init__(self, profiles: ProfileRepository) -> None:
        self._profiles = profiles

    def handle(self, envelope: Envelope) -> int:
        """Returns how many events were attached to a profile. Store failures propagate
        (BackendUnavailable) so Pub/Sub redelivers the whole message; replays are harmless."""
        if envelope.kind != "events":
            return 0
        return sum(1 for event in envelope.events if self._profiles.record(event))
