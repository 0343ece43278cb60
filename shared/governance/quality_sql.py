"""Every statement of the quality job, in one place, with the tables it names.

Each reads a bounded range of day partitions (``received_at``, ``recorded_at``, ``run_hour``)
and as few columns as it can: only the recording of this hour's keys reads raw payloads, and
only one hour of them; schema drift then compares against ``quality_properties``, a few rows
per source and event, instead of days of payloads. Engaged events and the cold archive are read
together: a source whose visitors are all cold still sends.

Results are written with DML (a query job, not a streaming insert), so the next run of the same
hour can delete them: BigQuery refuses DML on rows still in the streaming buffer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.governance.quality import (
    ALERT,
    QUALITY_CHECKS_TABLE,
    QUALITY_PROPERTIES_TABLE,
    Result,
)
from shared.settings import Settings
from shared.warehouse.layers import COLD_ARCHIVE_TABLE, EVENTS_TABLE, FAILED_EVENTS_TABLE, OPS, RAW

# Rows of both raw tables received in [@start, @end), with ``source_id`` never NULL.
RECEIVED = """
  SELECT COALESCE(source_id, '') AS source_id, 'engaged' AS tier, {columns} FROM `{events}`
  WHERE received_at >= @start AND received_at < @end
  UNION ALL
  SELECT COALESCE(source_id, '') AS source_id, 'cold' AS tier, {columns} FROM `{cold}`
  WHERE received_at >= @start AND received_at < @end
"""

NEWEST_SQL = """
WITH received AS ({received})
SELECT source_id, MAX(received_at) AS newest FROM received GROUP BY source_id
"""

# The hour and, for volume, the same hour of day on each trailing day.
VOLUME_SQL = """
WITH received AS ({received})
SELECT source_id,
  COUNTIF(received_at >= @hour) AS this_hour,
  COUNTIF(received_at < @hour
    AND MOD(TIMESTAMP_DIFF(@hour, TIMESTAMP_TRUNC(received_at, HOUR), HOUR), 24) = 0) AS trailing
FROM received GROUP BY source_id
"""

# Rows of the hour and distinct messages per table: the same messageId in both tiers is not a
# duplicate.
COUNTS_SQL = """
WITH received AS ({received})
SELECT source_id, COUNT(*) AS row_count,
  COUNT(DISTINCT CONCAT(tier, ':', message_id)) AS messages
FROM received GROUP BY source_id
"""

FAILED_SQL = """
SELECT source_id, COUNT(DISTINCT failed_id) AS failed FROM `{failed}`
WHERE recorded_at >= @start AND recorded_at < @end
  AND source_id IS NOT NULL AND source_id != ''
  AND NOT STARTS_WITH(stage, 'destination-')
GROUP BY source_id
"""

# Keys per hour, source and event; '' marks that the event was seen (it may have no keys).
RECORD_PROPERTIES_SQL = """
INSERT INTO `{properties}` (run_hour, source_id, event, property)
WITH received AS ({received})
SELECT DISTINCT TIMESTAMP_TRUNC(received_at, HOUR) AS run_hour, source_id,
  IF(type = 'track', COALESCE(event, ''), COALESCE(type, '')) AS event,
  COALESCE(property, '') AS property
FROM received
LEFT JOIN UNNEST(JSON_KEYS(
  IF(type IN ('identify', 'group'), JSON_QUERY(payload, '$.traits'),
    JSON_QUERY(payload, '$.properties')), 1)) AS property ON TRUE
"""

DELETE_PROPERTIES_SQL = """
DELETE FROM `{properties}` WHERE run_hour >= @start AND run_hour < @end
"""

RECORDED_SQL = """
SELECT COUNT(*) AS n FROM `{properties}` WHERE run_hour >= @start AND run_hour < @hour
"""

# Keys of the hour that the trailing window lacks, with what that window knew of the event and
# of the source.
DRIFT_SQL = """
WITH seen AS (
  SELECT source_id, event, property, run_hour >= @hour AS in_hour FROM `{properties}`
  WHERE run_hour >= @start AND run_hour <= @hour
),
keys AS (
  SELECT source_id, event, property,
    LOGICAL_OR(in_hour) AS in_hour, LOGICAL_OR(NOT in_hour) AS earlier
  FROM seen GROUP BY source_id, event, property
),
events AS (
  SELECT source_id, event, LOGICAL_OR(NOT in_hour) AS event_before
  FROM seen GROUP BY source_id, event
),
sources AS (
  SELECT source_id, LOGICAL_OR(NOT in_hour) AS source_before FROM seen GROUP BY source_id
)
SELECT k.source_id, k.event, k.property, e.event_before, s.source_before
FROM keys AS k
JOIN events AS e ON e.source_id = k.source_id AND e.event = k.event
JOIN sources AS s ON s.source_id = k.source_id
WHERE k.in_hour AND NOT k.earlier
ORDER BY k.source_id, k.event, k.property
LIMIT 5000
"""

PREVIOUS_ALERT_SQL = """
SELECT status FROM `{checks}` WHERE run_hour = @hour AND `check` = '{alert}'
"""

DELETE_RESULTS_SQL = "DELETE FROM `{checks}` WHERE run_hour = @hour"

INSERT_RESULTS_SQL = """
INSERT INTO `{checks}`
  (run_hour, `check`, source_id, status, value, threshold, detail, checked_at)
VALUES {values}
"""
ROW_VALUES = (
    "(@hour, @check_{i}, @source_{i}, @status_{i}, CAST(@value_{i} AS FLOAT64), "
    "@threshold_{i}, @detail_{i}, @checked_at)"
)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Mapping[str, Any]


class QualitySql:
    """The statements, with this deployment's table names."""

    def __init__(self, settings: Settings) -> None:
        table = settings.table
        self.events = table(RAW, EVENTS_TABLE)
        self.cold = table(RAW, COLD_ARCHIVE_TABLE)
        self.failed = table(OPS, FAILED_EVENTS_TABLE)
        self.checks = table(OPS, QUALITY_CHECKS_TABLE)
        self.properties = table(OPS, QUALITY_PROPERTIES_TABLE)

    def _received(self, *columns: str) -> str:
        return RECEIVED.format(columns=", ".join(columns), events=self.events, cold=self.cold)

    def newest(self, start: datetime, end: datetime) -> Statement:
        sql = NEWEST_SQL.format(received=self._received("received_at"))
        return Statement(sql, {"start": start, "end": end})

    def volume(self, hour: datetime, start: datetime, end: datetime) -> Statement:
        sql = VOLUME_SQL.format(received=self._received("received_at"))
        return Statement(sql, {"hour": hour, "start": start, "end": end})

    def counts(self, start: datetime, end: datetime) -> Statement:
        sql = COUNTS_SQL.format(received=self._received("message_id"))
        return Statement(sql, {"start": start, "end": end})

    def failed_events(self, start: datetime, end: datetime) -> Statement:
        return Statement(FAILED_SQL.format(failed=self.failed), {"start": start, "end": end})

    def recorded(self, start: datetime, hour: datetime) -> Statement:
        sql = RECORDED_SQL.format(properties=self.properties)
        return Statement(sql, {"start": start, "hour": hour})

    def record_properties(self, start: datetime, end: datetime) -> list[Statement]:
        """Replace the keys recorded for the hours in [start, end) with the raw tables'."""
        params = {"start": start, "end": end}
        received = self._received("received_at", "type", "event", "payload")
        return [
            Statement(DELETE_PROPERTIES_SQL.format(properties=self.properties), params),
            Statement(
                RECORD_PROPERTIES_SQL.format(properties=self.properties, received=received), params
            ),
        ]

    def drift(self, hour: datetime, start: datetime) -> Statement:
        sql = DRIFT_SQL.format(properties=self.properties)
        return Statement(sql, {"hour": hour, "start": start})

    def previous_alert(self, hour: datetime) -> Statement:
        return Statement(PREVIOUS_ALERT_SQL.format(checks=self.checks, alert=ALERT), {"hour": hour})

    def replace_results(
        self, hour: datetime, checked_at: datetime, results: Sequence[Result]
    ) -> list[Statement]:
        """Delete the hour's rows, then insert these: a re-run of an hour replaces it."""
        statements = [Statement(DELETE_RESULTS_SQL.format(checks=self.checks), {"hour": hour})]
        if not results:
            return statements
        params: dict[str, Any] = {"hour": hour, "checked_at": checked_at}
        for i, r in enumerate(results):
            params |= {
                f"check_{i}": r.check,
                f"source_{i}": r.source_id,
                f"status_{i}": r.status,
                f"value_{i}": r.value,  # None is a NULL STRING; the CAST types it
                f"threshold_{i}": r.threshold,
                f"detail_{i}": r.detail,
            }
        values = ",\n  ".join(ROW_VALUES.format(i=i) for i in range(len(results)))
        sql = INSERT_RESULTS_SQL.format(checks=self.checks, values=values)
        return [*statements, Statement(sql, params)]
