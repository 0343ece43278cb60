"""Sessionization: a person's events in time order, cut where 30 minutes pass without one.

One model serves the audiences (the churn-risk rule counts sessions per span) and the metrics
layer. Today it is SQL that callers embed in their query over the events they choose; the
metrics layer is to materialise it incrementally later (sessions of the closed hours kept in a
table, only the open tail recomputed), with this function as the one definition of a session.
"""

from __future__ import annotations


def sessions_sql(events: str, gap_minutes: int = 30) -> str:
    """Sessions of ``events`` (a SQL subquery with ``profile_id``, ``timestamp`` and ``platform``,
    which may be NULL): ``profile_id, session_start, session_end, duration_seconds, events,
    platform`` (the first event's). A gap of more than ``gap_minutes`` starts a new session;
    exactly ``gap_minutes`` does not. Plain subqueries and window functions: BigQuery and the
    local emulator run it alike."""
    gap_micros = int(gap_minutes) * 60 * 1_000_000
    return f"""SELECT profile_id, MIN(timestamp) AS session_start, MAX(timestamp) AS session_end,
  TIMESTAMP_DIFF(MAX(timestamp), MIN(timestamp), SECOND) AS duration_seconds,
  COUNT(*) AS events, MIN(first_platform) AS platform
FROM (
  SELECT profile_id, timestamp, session_number,
    FIRST_VALUE(platform) OVER (
      PARTITION BY profile_id, session_number ORDER BY timestamp
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) AS first_platform
  FROM (
    SELECT profile_id, timestamp, platform,
      SUM(starts) OVER (
        PARTITION BY profile_id ORDER BY timestamp, starts DESC
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS session_number
    FROM (
      SELECT profile_id, timestamp, platform,
        IF(previous IS NULL OR TIMESTAMP_DIFF(timestamp, previous, MICROSECOND) > {gap_micros},
          1, 0) AS starts
      FROM (
        SELECT profile_id, timestamp, platform,
          LAG(timestamp) OVER (PARTITION BY profile_id ORDER BY timestamp) AS previous
        FROM ({events})
        WHERE profile_id IS NOT NULL AND timestamp IS NOT NULL
      )
    )
  )
)
GROUP BY profile_id, session_number"""
