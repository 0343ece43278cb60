"""The person in the dead-letter subscriptions: messages Pub/Sub gave up delivering wait there
(for an operator's replay) with the events as they were, identifiers included.

A delete takes every waiting message (leased, so none is read twice), acknowledges those that
name the person, which removes them, and gives the others back at once. Verification does the
same without acknowledging anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from shared.destinations.operations import peek, take
from shared.governance.privacy.audit import Person
from shared.governance.privacy.requests import DONE, PENDING, Attempt
from shared.ports.subscriber import Received, Subscriber
from shared.settings import Settings
from shared.topology import TOPOLOGY

LIMIT = 10_000  # messages looked at per subscription


def subscriptions(settings: Settings) -> list[str]:
    """The dead-letter subscriptions this deployment has (enabled destinations only)."""
    deployed = TOPOLOGY.with_destinations(settings.destinations)
    return [name for name, _ in deployed.dead_letter_subscriptions()]


def patterns(person: Person) -> list[bytes]:
    """Each identifier as it appears in a message's JSON (lowercased)."""
    values = {v for vs in person.identifiers.values() for v in vs}
    return sorted({json.dumps(v.lower(), ensure_ascii=False).encode() for v in values})


def names_person(message: Received, found: Iterable[bytes]) -> bool:
    data = message.data.lower()
    return any(p in data for p in found)


def search(subscriber: Subscriber, subscription: str, person: Person) -> int:
    """How many waiting messages name the person (all are left where they were)."""
    seen = peek(subscriber, subscription, LIMIT)
    found = patterns(person)
    return sum(1 for m in seen if names_person(m, found))


def purge(subscriber: Subscriber, subscription: str, person: Person) -> int:
    """Remove the waiting messages that name the person; returns how many."""
    seen = take(subscriber, subscription, LIMIT)
    found = patterns(person)
    theirs = [m.ack_id for m in seen if names_person(m, found)]
    if theirs:
        subscriber.acknowledge(subscription, theirs)
    subscriber.release(subscription, [m.ack_id for m in seen if m.ack_id not in set(theirs)])
    return len(theirs)


def step(subscriber: Subscriber, names: list[str], person: Person) -> Callable[[str], Attempt]:
    """The attempt of the ``dead-letters`` step: every subscription, or pending if one did not
    answer (the others' removals stand)."""

    def run(_: str) -> Attempt:
        removed, failed = 0, []
        for name in names:
            try:
                removed += purge(subscriber, name, person)
            except Exception as error:  # one subscription down: the rest are still cleared
                failed.append(f"{name}: {type(error).__name__}")
        if failed:
            return Attempt(PENDING, f"removed {removed}; not read: {'; '.join(failed)}", True)
        return Attempt(DONE, f"removed {removed} messages from {len(names)} subscriptions")

    return run
