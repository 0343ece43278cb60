"""Curated and typed views, generated from the table declarations and the tracking plan.

Views cost nothing to keep and never fail a load: a property the plan types is read from the
JSON column with ``SAFE_CAST`` (a wrong type gives NULL, the raw value stays in ``properties``).
The identity map derives validity in time from the append-only assignments, so a merge or an
unmerge is just more rows and every event (cold ones too) joins to whoever its ids belong to now.
"""

from __future__ import annotations

from shared.governance.plan import Property, TrackingPlan
from shared.ports.warehouse import View
from shared.settings import Settings
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENT_PROFILES_VIEW,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
    USERS_TABLE,
    USERS_VIEW,
)
from shared.warehouse.processed import USERS_COLUMNS

IDENTITY_MAP_SQL = """
SELECT
  identifier_type, identifier_value, profile_id, valid_from,
  LEAD(valid_from) OVER (
    PARTITION BY identifier_type, identifier_value
    ORDER BY valid_from, decided_at, recorded_at, assignment_id
  ) AS valid_to,
  change, change_id, message_id
FROM (
  SELECT * FROM `{assignments}`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY assignment_id ORDER BY recorded_at) = 1
)
"""

# userId decides when the event has one; otherwise its anonymousId (pre-signup, cold).
EVENT_PROFILES_SQL = """
WITH current_map AS (
  SELECT identifier_type, identifier_value, profile_id FROM `{identity_map}`
  WHERE valid_to IS NULL
),
all_events AS (
  SELECT message_id, type, event, user_id, anonymous_id, source_id, timestamp, received_at,
    'engaged' AS tier
  FROM `{events}`
  UNION ALL
  SELECT message_id, type, event, user_id, anonymous_id, source_id, timestamp, received_at,
    'cold' AS tier
  FROM `{cold}`
)
SELECT e.*, COALESCE(u.profile_id, a.profile_id) AS profile_id
FROM all_events AS e
LEFT JOIN current_map AS u
  ON u.identifier_type = 'user_id' AND u.identifier_value = e.user_id
LEFT JOIN current_map AS a
  ON a.identifier_type = 'anonymous_id' AND a.identifier_value = e.anonymous_id
"""

EVENT_BASE = ("message_id", "user_id", "anonymous_id", "source_id", "timestamp", "received_at")


def typed_column(json_column: str, name: str, prop: Property, alias: str) -> str:
    """Quoted alias: a plan may name a property ``order`` or ``range`` (reserved words)."""
    value = f"JSON_VALUE({json_column}, '$.{name}')"
    if prop.bigquery_type == "STRING":
        return f"{value} AS `{alias}`"
    return f"SAFE_CAST({value} AS {prop.bigquery_type}) AS `{alias}`"


def _typed_columns(json_column: str, props: dict[str, Property], taken: set[str]) -> list[str]:
    """Typed columns; a property named like a base column gets a ``<json_column>_`` prefix."""
    return [
        typed_column(json_column, name, prop, f"{json_column}_{name}" if name in taken else name)
        for name, prop in props.items()
    ]


def event_view_sql(tracks: str, event: str, props: dict[str, Property]) -> str:
    taken = {*EVENT_BASE, "properties", "context"}
    columns = [*EVENT_BASE, *_typed_columns("properties", props, taken)]
    select = ",\n  ".join([*columns, "properties", "context"])
    return f"SELECT\n  {select}\nFROM `{tracks}`\nWHERE event = '{event}'\n"


def users_view_sql(users: str, traits: dict[str, Property]) -> str:
    base = [c.name for c in USERS_COLUMNS if c.name != "traits"]
    columns = [*base, *_typed_columns("traits", traits, {*base, "traits"}), "traits"]
    return "SELECT\n  " + ",\n  ".join(columns) + f"\nFROM `{users}`\n"


def curated_views(settings: Settings, plan: TrackingPlan) -> tuple[View, ...]:
    name = settings.table

    identity_map = IDENTITY_MAP_SQL.format(assignments=name(PROCESSED, IDENTITY_ASSIGNMENTS_TABLE))
    profiles = EVENT_PROFILES_SQL.format(
        identity_map=name(CURATED, IDENTITY_MAP_VIEW),
        events=name(RAW, EVENTS_TABLE),
        cold=name(RAW, COLD_ARCHIVE_TABLE),
    )
    return (
        View(IDENTITY_MAP_VIEW, identity_map, "Identifier → profile id, valid_from/valid_to."),
        View(EVENT_PROFILES_VIEW, profiles, "Every event, engaged or cold, with its profile id."),
        View(USERS_VIEW, users_view_sql(name(PROCESSED, USERS_TABLE), plan.traits), "Users."),
    )


def event_views(settings: Settings, plan: TrackingPlan) -> tuple[View, ...]:
    tracks = settings.table(PROCESSED, "tracks")
    return tuple(
        View(event, event_view_sql(tracks, event, plan.typed_properties(event)), spec.description)
        for event, spec in plan.events.items()
    )
