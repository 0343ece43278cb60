"""The scheduled dedup: insertId only deduplicates within about a minute, so a message
redelivered later could load a row twice. This keeps the earliest-loaded row per key in every
table the loader streams into (messageId for events, the assignment id for the identity map).

``settle_minutes`` leaves recent rows alone: BigQuery refuses DML on rows still in the streaming
buffer, so in the cloud only rows loaded over ~90 minutes ago are cleaned (the next run gets the
rest); the emulator has no buffer, so locally it is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    PROCESSED,
    RAW,
    TABLE_OF_TYPE,
)

DEFAULT_DAYS = 3
STREAMING_BUFFER_MINUTES = 90


@dataclass(frozen=True)
class DedupTarget:
    layer: str
    table: str
    key: str = "message_id"
    loaded: str = "loaded_at"  # which copy came first
    window: str = "received_at"  # bounds the scan


TARGETS = (
    DedupTarget(RAW, EVENTS_TABLE),
    DedupTarget(RAW, COLD_ARCHIVE_TABLE),
    *(DedupTarget(PROCESSED, table) for table in TABLE_OF_TYPE.values()),
    DedupTarget(
        PROCESSED,
        IDENTITY_ASSIGNMENTS_TABLE,
        key="assignment_id",
        loaded="recorded_at",
        window="recorded_at",
    ),
)

DEDUP_SQL = """
DELETE FROM `{table}` AS t
WHERE t.{window} >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
  AND t.{loaded} < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @settle_minutes MINUTE)
  AND EXISTS (
    SELECT 1 FROM `{table}` AS o
    WHERE o.{key} = t.{key}
      AND o.{window} >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
      AND o.{loaded} < t.{loaded}
  )
"""

COUNT_DUPLICATES_SQL = """
SELECT COUNT(*) - COUNT(DISTINCT {key}) AS duplicates FROM `{table}`
WHERE {window} >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)
"""


def dedup_table(
    settings: Settings,
    sql: SqlRunner,
    target: DedupTarget,
    days: int = DEFAULT_DAYS,
    settle_minutes: int = STREAMING_BUFFER_MINUTES,
) -> int:
    """Delete later copies within the last ``days``; returns how many it deleted."""
    table = settings.table(target.layer, target.table)
    names = {"table": table, "key": target.key, "loaded": target.loaded, "window": target.window}

    def duplicates() -> int:
        found = sql.query(COUNT_DUPLICATES_SQL.format(**names), {"days": days})
        return int(found[0]["duplicates"]) if found else 0

    before = duplicates()
    if not before:  # the usual case: one cheap count, no DML
        return 0
    sql.query(DEDUP_SQL.format(**names), {"days": days, "settle_minutes": settle_minutes})
    return before - duplicates()


def settle_minutes_for(settings: Settings) -> int:
    """The emulator has no streaming buffer; BigQuery does."""
    return 0 if settings.bigquery_endpoint else STREAMING_BUFFER_MINUTES


def dedup_all(
    settings: Settings,
    sql: SqlRunner,
    days: int = DEFAULT_DAYS,
    settle_minutes: int | None = None,
) -> dict[str, int]:
    """Dedup every streamed table; returns rows deleted per ``layer.table``."""
    if settle_minutes is None:
        settle_minutes = settle_minutes_for(settings)
    return {
        f"{t.layer}.{t.table}": dedup_table(settings, sql, t, days, settle_minutes) for t in TARGETS
    }
