"""The events a present-time run announces: per person-level transition, a track ``Audience
Entered`` / ``Audience Exited`` and an identify setting the trait ``<audience_key>: true|false``
(as Segment Engage does), from the internal source ``audiences``.

They enter the pipeline through ``IngestHandler.reenter``, after ingest's own checks: governance
(suppression, PII guard, the tracking plan, where they are platform events), tiering and
publishing apply to them as to any event, and consent is decided by each destination as usual.

Their messageIds are deterministic: ``aud-<sha256(key|profile_id|transition|as_of)[:32]>`` for
the track (also the transition's id in the warehouse) and the same with ``-identify`` for the
identify, so an event published twice by a retried run is one event downstream.

``high_value`` (only for an audience with a ``high_value_threshold``): the audience's first
carried trait (``transaction_volume_30d`` if it carries none) is at least the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.audiences.memberships import ENTERED, Person, Transition, message_id
from shared.audiences.names import AUDIENCES_SOURCE_ID
from shared.audiences.names import ENTERED_EVENT as ENTERED_EVENT
from shared.audiences.names import EXITED_EVENT as EXITED_EVENT
from shared.ingest.events import iso
from shared.ingest.handler import IngestResult
from shared.settings import Source

AUDIENCES_SOURCE = Source(
    id=AUDIENCES_SOURCE_ID, name="Audiences", kind="internal", write_key_sha256=""
)
LIBRARY = {"name": "cdp-audiences", "version": 1}
HIGH_VALUE_TRAIT = "transaction_volume_30d"
CHUNK = 100  # events per re-entry (each a Pub/Sub message per tier)

Event = dict[str, Any]


class AudienceLike(Protocol):
    """What emitting reads of an audience's definition."""

    @property
    def name(self) -> str: ...
    @property
    def high_value_threshold(self) -> float | None: ...
    @property
    def carry(self) -> Sequence[str]: ...


class Reentry(Protocol):
    """Ingest after its checks (``IngestHandler.reenter``)."""

    def reenter(self, source: Source, events: list[Event]) -> IngestResult: ...


def properties(key: str, audience: AudienceLike, traits: Mapping[str, Any]) -> dict[str, Any]:
    """The track's properties: key, name, high_value (with a threshold), carried traits."""
    props: dict[str, Any] = {"audience_key": key, "audience_name": audience.name}
    threshold = audience.high_value_threshold
    if threshold is not None:
        trait = audience.carry[0] if audience.carry else HIGH_VALUE_TRAIT
        value = traits.get(trait)
        props["high_value"] = isinstance(value, int | float) and value >= threshold
    for trait in audience.carry:
        if traits.get(trait) is not None:
            props[trait] = traits[trait]
    return props


def events_for(
    transitions: Sequence[Transition],
    people: Mapping[str, Person],
    audiences: Mapping[str, AudienceLike],
    as_of: datetime,
) -> list[Event]:
    """The track and identify of each announced transition, in order; one with neither a
    userId nor an anonymousId to address it is left out (nothing could receive it)."""
    at = iso(as_of)
    out: list[Event] = []
    for t in transitions:
        if not t.announced or t.audience_key not in audiences:
            continue
        ids = {"userId": t.user_id} if t.user_id else {"anonymousId": t.anonymous_id}
        if not next(iter(ids.values())):
            continue
        person = people.get(t.profile_id)
        entered = t.transition == ENTERED
        mid = message_id(t.audience_key, t.profile_id, t.transition, as_of)
        common = {
            **ids,
            "timestamp": at,
            "receivedAt": at,
            "context": {"library": dict(LIBRARY)},
            "sourceId": AUDIENCES_SOURCE.id,
            "sourceName": AUDIENCES_SOURCE.name,
        }
        traits = person.traits if person is not None else {}
        out.append(
            {
                "type": "track",
                "event": ENTERED_EVENT if entered else EXITED_EVENT,
                "messageId": mid,
                "properties": properties(t.audience_key, audiences[t.audience_key], traits),
                **common,
            }
        )
        out.append(
            {
                "type": "identify",
                "messageId": f"{mid}-identify",
                "traits": {t.audience_key: entered},
                **common,
            }
        )
    return out


def emit(ingest: Reentry, events: Sequence[Event]) -> IngestResult:
    """Hand the events to ingest in chunks; the results added up."""
    total = IngestResult()
    for start in range(0, len(events), CHUNK):
        got = ingest.reenter(AUDIENCES_SOURCE, list(events[start : start + CHUNK]))
        total.accepted += got.accepted
        total.failed += got.failed
        total.duplicates += got.duplicates
        total.suppressed += got.suppressed
        total.flagged += got.flagged
        total.published.extend(got.published)
    return total
