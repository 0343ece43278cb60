"""Names of the warehouse's layers (datasets ``<prefix>_<layer>``) and tables.

raw        every accepted event as received (JSON); the cold archive beside it expires
processed  Segment-style tables per call type, ``users``, and the identity assignments
curated    views later work builds on: the identity map, every event with its profile id, users
events     one typed view per tracked event, generated from the tracking plan
ops        what operators look at: failed events, deliveries, tracking-plan violations
"""

from __future__ import annotations

RAW = "raw"
PROCESSED = "processed"
CURATED = "curated"
EVENT_VIEWS = "events"
OPS = "ops"

EVENTS_TABLE = "events"
COLD_ARCHIVE_TABLE = "cold_archive"
FAILED_EVENTS_TABLE = "failed_events"
DELIVERIES_TABLE = "deliveries"
VIOLATION_EVENTS_TABLE = "violation_events"  # one row per event and finding
VIOLATIONS_VIEW = "violations"  # per hour by source by event by kind by property, with a count

# Segment call type → processed table.
TABLE_OF_TYPE = {
    "track": "tracks",
    "identify": "identifies",
    "page": "pages",
    "screen": "screens",
    "group": "groups",
    "alias": "aliases",
}
USERS_TABLE = "users"
IDENTITY_ASSIGNMENTS_TABLE = "identity_assignments"

IDENTITY_MAP_VIEW = "identity_map"
EVENT_PROFILES_VIEW = "event_profiles"
USERS_VIEW = "users"
