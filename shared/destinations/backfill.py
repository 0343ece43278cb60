"""Back-fill: a promoted id's pre-promotion journey, sent once to the destinations that opt in.

Cold events never reached the destinations (that is what makes them cheap). When an anonymous id
enters the full pipeline (it identified, fired an engagement event, or crossed the session
threshold and came back), the promotion sweep, which finds the ids that entered since its last
run (``shared.tiering.sweep.entered_since``), looks up their cold events in the cold archive and
publishes them on the ``backfills`` topic: one message per id (split only past
``MESSAGE_BYTES``), kind ``backfill``, with the id, the user it now belongs to and the person's
consent in the body's ``meta`` (ids and consent objects can outgrow an attribute's 1024 bytes).
Every deployed destination with back-fill support subscribes to that topic; one that did not opt
in acknowledges without sending, and the sweep publishes nothing at all unless one opted in.

Consent: the journey was recorded before the person said anything, so the consent their profile
holds *now* governs it. It travels as ``meta.consent`` (category → granted) and a
destination sends nothing of the journey for a refused category, besides its per-event check. An
id without a profile is never sent unchecked: it is skipped (identity writes the profile before
its assignment reaches the warehouse, so that means the profile was deleted).

Once published, ``backfills/{anonymous_id}`` records it, so later sweeps skip the id. A crash
between the publish and the record publishes again on the next sweep (which looks at the same
ids: the sweep records where it got to only after the whole job succeeded): the events keep their
``messageId``, on which destinations dedupe (as they do for every Pub/Sub redelivery). Cold
events that arrive after the record (an instance whose cache has not yet seen the promotion,
for at most ``tier_negative_cache_seconds``) stay in the warehouse and GA4 only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.envelope import batches, dumps, encode_serialized
from shared.identity.profiles import ProfileRepository
from shared.ports.documents import DocumentStore, create_missing
from shared.ports.publisher import OutboundMessage, Publisher
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.tiering.state import doc_id
from shared.tiering.sweep import Entered
from shared.topology import BACKFILLS
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, RAW

BACKFILLED = "backfills"
KIND = "backfill"
MESSAGE_BYTES = 4 * 1024 * 1024  # well under Pub/Sub's 10 MB per message
CHUNK = 200  # ids per Firestore read or transaction

COLD_JOURNEYS_SQL = """
SELECT anonymous_id, TO_JSON_STRING(payload) AS payload
FROM `{cold}`
WHERE received_at >= TIMESTAMP_SUB(@now, INTERVAL @window DAY) AND anonymous_id IN UNNEST(@ids)
ORDER BY anonymous_id, timestamp, received_at, message_id
"""


def opted_in(settings: Settings) -> list[str]:
    """The enabled destinations that asked for back-fills (``CDP_<NAME>_BACKFILL``). Whether
    each can send is its own function's business (its credentials are its secrets alone)."""
    from shared.destinations.registry import settings_of

    return [n for n in settings.enabled_destinations() if settings_of(n).backfill]


@dataclass
class Journey:
    anonymous_id: str
    user_id: str | None
    events: list[bytes] = field(default_factory=list)  # each event's JSON, in time order
    consent: dict[str, bool] = field(default_factory=dict)  # the person's, at back-fill time


def journeys(rows: Sequence[Mapping[str, Any]], users: Mapping[str, str | None]) -> list[Journey]:
    """Group the query's rows (ordered by id, then time) into one journey per id, each with the
    userId seen with that id (``users``)."""
    found: dict[str, Journey] = {}
    for row in rows:
        anon = row["anonymous_id"]
        journey = found.get(anon)
        if journey is None:
            journey = found[anon] = Journey(anon, users.get(anon))
        payload = row.get("payload")
        if payload:
            journey.events.append(dumps(orjson.loads(payload)))
    return [j for j in found.values() if j.events]


def messages(journey: Journey, limit: int = MESSAGE_BYTES) -> Iterator[OutboundMessage]:
    """The journey's messages on the back-fill topic, each with at most ``limit`` bytes of
    events."""
    meta = {
        "anonymousId": journey.anonymous_id,
        "userId": journey.user_id,
        "consent": journey.consent,
    }
    for chunk in batches(journey.events, len(journey.events), limit):
        yield encode_serialized(BACKFILLS, KIND, chunk, meta)


def run_backfill(
    settings: Settings,
    sql: SqlRunner,
    documents: DocumentStore,
    publisher: Publisher,
    now: datetime,
    entered: Sequence[Entered],
) -> dict[str, int]:
    """Back-fill the cold journeys of the ids that just entered the full pipeline (the sweep's
    ``entered_since``): only they are looked up in the archive."""
    if not opted_in(settings) or not entered:
        return {"backfilled_ids": 0, "backfilled_events": 0}
    query = COLD_JOURNEYS_SQL.format(cold=settings.table(RAW, COLD_ARCHIVE_TABLE))
    users = {e.anonymous_id: e.user_id for e in entered}
    params = {"now": now, "window": settings.tier_attribution_window_days, "ids": list(users)}
    found = journeys(sql.query(query, params), users)
    pending = _with_consent(documents, settings, _not_done(documents, found))
    ids = events = 0
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        publisher.publish([m for journey in chunk for m in messages(journey)])
        ids += _record(documents, chunk, now)
        events += sum(len(j.events) for j in chunk)
    return {"backfilled_ids": ids, "backfilled_events": events}


def _not_done(documents: DocumentStore, found: list[Journey]) -> list[Journey]:
    pending: list[Journey] = []
    for start in range(0, len(found), CHUNK):
        chunk = found[start : start + CHUNK]
        docs = documents.get_all([(BACKFILLED, doc_id(j.anonymous_id)) for j in chunk])
        pending += [j for j in chunk if docs[(BACKFILLED, doc_id(j.anonymous_id))] is None]
    return pending


def _with_consent(
    documents: DocumentStore, settings: Settings, pending: list[Journey]
) -> list[Journey]:
    """The journeys whose person has a profile, each with the consent that profile holds."""
    profiles = ProfileRepository(documents, settings.identity)
    ready: list[Journey] = []
    for journey in pending:
        profile = profiles.find(("anonymous_id", journey.anonymous_id))
        if profile is None:
            continue
        consent = profile.get("consent") or {}
        journey.consent = {
            category: slot["value"]
            for category, slot in consent.items()
            if isinstance(slot, dict) and isinstance(slot.get("value"), bool)
        }
        ready.append(journey)
    return ready


def _record(documents: DocumentStore, done: list[Journey], now: datetime) -> int:
    records = {
        doc_id(j.anonymous_id): {
            "anonymous_id": j.anonymous_id, "user_id": j.user_id,
            "events": len(j.events), "at": now.isoformat(),
        }
        for j in done
    }  # fmt: skip
    return len(create_missing(documents, BACKFILLED, records))
