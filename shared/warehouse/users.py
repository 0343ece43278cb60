"""The ``users`` table: one row per userId with the traits of its latest identify.

Streaming inserts cannot update a row, so a scheduled job MERGEs the recent identifies into
``users`` (which nothing streams into, so DML on it is always allowed). The latest identify by
event time wins; a late, older identify never overwrites a newer one but can move
``first_seen_at`` earlier. Trait-by-trait history stays in ``identifies`` and on the profile.
"""

from __future__ import annotations

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import PROCESSED, USERS_TABLE

DEFAULT_DAYS = 2  # longer than the schedule's interval, so a missed run loses nothing

REFRESH_USERS_SQL = """
MERGE `{users}` AS u
USING (
  SELECT user_id, anonymous_id, traits, message_id, timestamp AS updated_at, first_seen_at
  FROM (
    SELECT user_id, anonymous_id, traits, message_id, timestamp, received_at,
      MIN(timestamp) OVER (PARTITION BY user_id) AS first_seen_at
    FROM `{identifies}`
    WHERE user_id IS NOT NULL
      AND received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
  )
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY user_id ORDER BY timestamp DESC, received_at DESC, message_id DESC
  ) = 1
) AS s
ON u.user_id = s.user_id
WHEN MATCHED AND s.updated_at >= u.updated_at THEN UPDATE SET
  anonymous_id = s.anonymous_id, traits = s.traits, message_id = s.message_id,
  updated_at = s.updated_at, refreshed_at = CURRENT_TIMESTAMP(),
  first_seen_at = IF(s.first_seen_at < u.first_seen_at, s.first_seen_at, u.first_seen_at)
WHEN MATCHED AND s.first_seen_at < u.first_seen_at THEN UPDATE SET
  first_seen_at = s.first_seen_at, refreshed_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT
  (user_id, anonymous_id, traits, message_id, first_seen_at, updated_at, refreshed_at)
  VALUES (s.user_id, s.anonymous_id, s.traits, s.message_id, s.first_seen_at, s.updated_at,
          CURRENT_TIMESTAMP())
"""

COUNT_USERS_SQL = "SELECT COUNT(*) AS users FROM `{users}`"


def refresh_users(settings: Settings, sql: SqlRunner, days: int = DEFAULT_DAYS) -> int:
    """Merge identifies received in the last ``days`` into ``users``; returns the user count."""
    dataset = f"{settings.project_id}.{settings.dataset(PROCESSED)}"
    users = f"{dataset}.{USERS_TABLE}"
    sql.query(
        REFRESH_USERS_SQL.format(users=users, identifies=f"{dataset}.identifies"), {"days": days}
    )
    counted = sql.query(COUNT_USERS_SQL.format(users=users))
    return int(counted[0]["users"]) if counted else 0
