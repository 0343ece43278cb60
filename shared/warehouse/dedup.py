"""The scheduled dedup: insertId only deduplicates within about a minute, so a message
redelivered later could load a row twice. This keeps the earliest-loaded row per messageId."""

from __future__ import annotations

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.tables import EVENTS_TABLE, RAW

DEDUP_SQL = """
DELETE FROM `{table}` AS t
WHERE t.received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
  AND EXISTS (
    SELECT 1 FROM `{table}` AS o
    WHERE o.message_id = t.message_id
      AND o.received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
      AND o.loaded_at < t.loaded_at
  )
"""

COUNT_DUPLICATES_SQL = """
SELECT COUNT(*) - COUNT(DISTINCT message_id) AS duplicates FROM `{table}`
WHERE received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
"""


def dedup_raw_events(settings: Settings, sql: SqlRunner, days: int = 3) -> int:
    """Delete later copies of the same event within the last ``days``; returns how many."""
    table = f"{settings.project_id}.{settings.dataset(RAW)}.{EVENTS_TABLE}"
    before = sql.query(COUNT_DUPLICATES_SQL.format(table=table), {"days": days})
    duplicates = int(before[0]["duplicates"]) if before else 0
    if duplicates:
        sql.query(DEDUP_SQL.format(table=table), {"days": days})
    return duplicates
