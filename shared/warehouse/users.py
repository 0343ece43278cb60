"""The ``users`` table: one row per userId with the latest value of each of its traits.

SDKs send partial identifies (a signup sends email, name and plan; a later login only email),
so a user's traits are merged key by key over all of their identifies: each key takes its value
from the latest identify that sent it (by event ``timestamp``, then ``received_at``, then
``message_id``), as Segment's ``users`` table does. A key is never lost because a later identify
left it out; a late, older identify only contributes keys nobody has sent since. An explicit
``null`` is a value (the trait was cleared). Nested objects are values too: the latest
``address`` replaces the whole object.

Streaming inserts cannot update a row, so a scheduled job MERGEs into ``users`` (which nothing
streams into, so DML on it is always allowed). It recomputes every user with an identify received
in the last ``days`` from *all* of that user's identifies (``identifies`` is clustered by user),
and touches a row only when something in it changed, so a second run changes nothing.

The SQL keeps to constructs that BigQuery and its emulator agree on: trait values are read with
the JSON subscript operator (JSON_QUERY needs a constant path in BigQuery); the merged object is
built as text and parsed (JSON_OBJECT over aggregated arrays fails on the emulator); keys come
from ``JSON_KEYS`` without a depth (the emulator's depth drops keys containing dots). That also
returns nested paths (``address.city``), and BigQuery may quote keys with special characters
(``"utm.source"``), so a key counts only if it reads a value at the top level, as it is or
unquoted. The emulator reads a key starting with ``$`` as a JSON path (the job fails) and one
starting with ``/`` as a JSON pointer (the trait is left out); BigQuery has neither problem.
The latest identify also gives ``anonymous_id``, ``message_id`` and ``updated_at``;
``first_seen_at`` is the earliest identify's event time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import PROCESSED, USERS_TABLE

DEFAULT_DAYS = 2  # longer than the schedule's interval, so a missed run loses nothing

LATEST_FIRST = "timestamp DESC, received_at DESC, message_id DESC"

REFRESH_USERS_SQL = r"""
MERGE `{users}` AS u
USING (
  WITH history AS (
    SELECT user_id, anonymous_id, traits, message_id, timestamp, received_at
    FROM `{identifies}`
    WHERE user_id IN (
      SELECT user_id FROM `{identifies}`
      WHERE user_id IS NOT NULL
        AND received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
    )
  ),
  latest AS (
    SELECT user_id, anonymous_id, message_id, timestamp AS updated_at,
      MIN(timestamp) OVER (PARTITION BY user_id) AS first_seen_at
    FROM history
    WHERE TRUE
    QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY {latest_first}) = 1
  ),
  keyed AS (
    SELECT user_id, traits, timestamp, received_at, message_id,
      IF(traits[path] IS NULL AND LENGTH(path) > 1 AND STARTS_WITH(path, '"')
           AND ENDS_WITH(path, '"'),
         REGEXP_REPLACE(SUBSTR(path, 2, LENGTH(path) - 2), r'\\(.)', r'\1'), path) AS name
    FROM history, UNNEST(JSON_KEYS(traits)) AS path
  ),
  trait_values AS (
    SELECT user_id, name, traits[name] AS value
    FROM keyed
    WHERE traits[name] IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, name ORDER BY {latest_first}) = 1
  ),
  merged AS (
    SELECT user_id,
      PARSE_JSON(CONCAT('{{', STRING_AGG(
        CONCAT(TO_JSON_STRING(name), ':', TO_JSON_STRING(value)), ',' ORDER BY name), '}}'))
        AS traits
    FROM trait_values
    GROUP BY user_id
  )
  SELECT latest.user_id, latest.anonymous_id, latest.message_id, latest.updated_at,
    latest.first_seen_at, COALESCE(merged.traits, JSON '{{}}') AS traits
  FROM latest LEFT JOIN merged USING (user_id)
) AS s
ON u.user_id = s.user_id
WHEN MATCHED AND (
  TO_JSON_STRING(u.traits) IS DISTINCT FROM TO_JSON_STRING(s.traits)
  OR u.anonymous_id IS DISTINCT FROM s.anonymous_id
  OR u.message_id IS DISTINCT FROM s.message_id
  OR u.first_seen_at IS DISTINCT FROM s.first_seen_at
  OR u.updated_at IS DISTINCT FROM s.updated_at
) THEN UPDATE SET
  anonymous_id = s.anonymous_id, traits = s.traits, message_id = s.message_id,
  first_seen_at = s.first_seen_at, updated_at = s.updated_at, refreshed_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT
  (user_id, anonymous_id, traits, message_id, first_seen_at, updated_at, refreshed_at)
  VALUES (s.user_id, s.anonymous_id, s.traits, s.message_id, s.first_seen_at, s.updated_at,
          CURRENT_TIMESTAMP())
"""

COUNT_USERS_SQL = "SELECT COUNT(*) AS users FROM `{users}`"


@dataclass(frozen=True)
class Identify:
    message_id: str
    timestamp: datetime
    received_at: datetime
    traits: Mapping[str, Any] | None


def merge_traits(identifies: Iterable[Identify]) -> dict[str, Any]:
    """The rule ``REFRESH_USERS_SQL`` applies, in Python: read it here; tests hold the SQL to it."""
    merged: dict[str, Any] = {}
    for identify in sorted(identifies, key=lambda i: (i.timestamp, i.received_at, i.message_id)):
        merged.update(identify.traits or {})
    return merged


def refresh_users(settings: Settings, sql: SqlRunner, days: int = DEFAULT_DAYS) -> int:
    """Recompute the users with identifies received in the last ``days``; returns the count."""
    users = settings.table(PROCESSED, USERS_TABLE)
    statement = REFRESH_USERS_SQL.format(
        users=users, identifies=settings.table(PROCESSED, "identifies"), latest_first=LATEST_FIRST
    )
    sql.query(statement, {"days": days})
    counted = sql.query(COUNT_USERS_SQL.format(users=users))
    return int(counted[0]["users"]) if counted else 0
