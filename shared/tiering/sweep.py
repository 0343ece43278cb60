"""The scheduled promotion sweep, over the warehouse rather than per event.

1. Threshold: anonymous ids whose cold events in the last ``tier_session_window_days`` form at
   least ``tier_session_threshold`` sessions (``tier_session_gap_minutes`` of inactivity starts
   a new one) are promoted (reason ``threshold``); ingest sees them within its cache TTL.
2. First touch: every anonymous id that entered the full pipeline in the last
   ``tier_attribution_lookback_days`` gets its attribution document from its earliest event,
   cold or engaged, within the attribution window (``tier_attribution_window_days``, 30 by
   default, which also bounds the partitions scanned), if it has none yet (see
   ``shared.tiering.attribution``).

Both are idempotent: promotions and attributions are created once, never overwritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.identity.attribution import attach_first_touch, touch_from_attribution
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.tiering.attribution import first_touch, record_missing
from shared.tiering.rule import Reason
from shared.tiering.state import Promotion, PromotionState
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, EVENTS_TABLE, RAW

THRESHOLD_SQL = """
WITH cold AS (
  SELECT anonymous_id, timestamp AS ts
  FROM `{cold}`
  WHERE anonymous_id IS NOT NULL
    AND received_at >= TIMESTAMP_SUB(@now, INTERVAL @days DAY)
    AND timestamp >= TIMESTAMP_SUB(@now, INTERVAL @days DAY)
), gaps AS (
  SELECT anonymous_id, ts, LAG(ts) OVER (PARTITION BY anonymous_id ORDER BY ts) AS prev
  FROM cold
)
SELECT anonymous_id,
       SUM(CASE WHEN prev IS NULL OR TIMESTAMP_DIFF(ts, prev, MINUTE) >= @gap THEN 1 ELSE 0 END)
         AS sessions,
       MIN(ts) AS first_seen
FROM gaps
GROUP BY anonymous_id
HAVING SUM(CASE WHEN prev IS NULL OR TIMESTAMP_DIFF(ts, prev, MINUTE) >= @gap THEN 1 ELSE 0 END)
       >= @threshold
ORDER BY anonymous_id
"""

FIRST_TOUCH_SQL = """
WITH entered AS (
  SELECT anonymous_id, MAX(user_id) AS user_id
  FROM `{events}`
  WHERE anonymous_id IS NOT NULL AND received_at >= TIMESTAMP_SUB(@now, INTERVAL @days DAY)
  GROUP BY anonymous_id
), history AS (
  SELECT anonymous_id, timestamp, received_at, message_id, payload FROM `{cold}`
  WHERE received_at >= TIMESTAMP_SUB(@now, INTERVAL @window DAY)
    AND anonymous_id IN (SELECT anonymous_id FROM entered)
  UNION ALL
  SELECT anonymous_id, timestamp, received_at, message_id, payload FROM `{events}`
  WHERE received_at >= TIMESTAMP_SUB(@now, INTERVAL @window DAY)
    AND anonymous_id IN (SELECT anonymous_id FROM entered)
), first_events AS (
  SELECT anonymous_id, payload,
         ROW_NUMBER() OVER (
           PARTITION BY anonymous_id ORDER BY timestamp, received_at, message_id
         ) AS n
  FROM history
)
SELECT f.anonymous_id, e.user_id, TO_JSON_STRING(f.payload) AS payload
FROM first_events AS f JOIN entered AS e ON e.anonymous_id = f.anonymous_id
WHERE f.n = 1
ORDER BY f.anonymous_id
"""


def _table(settings: Settings, name: str) -> str:
    return f"{settings.project_id}.{settings.dataset(RAW)}.{name}"


def threshold_candidates(settings: Settings, sql: SqlRunner, now: datetime) -> list[dict[str, Any]]:
    query = THRESHOLD_SQL.format(cold=_table(settings, COLD_ARCHIVE_TABLE))
    params = {
        "now": now,
        "days": settings.tier_session_window_days,
        "gap": settings.tier_session_gap_minutes,
        "threshold": settings.tier_session_threshold,
    }
    return sql.query(query, params)


def first_touches(settings: Settings, sql: SqlRunner, now: datetime) -> list[dict[str, Any]]:
    query = FIRST_TOUCH_SQL.format(
        cold=_table(settings, COLD_ARCHIVE_TABLE), events=_table(settings, EVENTS_TABLE)
    )
    params = {
        "now": now,
        "days": settings.tier_attribution_lookback_days,
        "window": settings.tier_attribution_window_days,
    }
    rows = sql.query(query, params)
    return [first_touch(r["anonymous_id"], r["payload"] or "{}", r["user_id"]) for r in rows]


def run_sweep(
    settings: Settings, sql: SqlRunner, documents: DocumentStore, clock: Clock
) -> dict[str, int]:
    now = clock.now()
    candidates = threshold_candidates(settings, sql, now)
    state = PromotionState(documents, clock, negative_ttl_seconds=0)
    promotions = [
        Promotion(
            anonymous_id=row["anonymous_id"],
            reason=Reason.THRESHOLD.value,
            at=_iso(row["first_seen"]),
        )
        for row in candidates
    ]
    promoted = 0
    for start in range(0, len(promotions), 200):
        promoted += len(state.record(promotions[start : start + 200]))
    touches = first_touches(settings, sql, now)
    attributed = record_missing(documents, touches)
    # Onto the person's profile too (idempotent; the earliest touch of any of their ids wins).
    on_profiles = [attach_first_touch(documents, touch_from_attribution(t)) for t in touches]
    return {
        "threshold_candidates": len(candidates),
        "promoted": promoted,
        "entered_recently": len(touches),
        "attributed": attributed,
        "profiles_with_first_touch": sum(1 for p in on_profiles if p),
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
