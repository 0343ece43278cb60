"""The scheduled promotion sweep, over the warehouse rather than per event.

1. Threshold: anonymous ids whose cold events in the last ``tier_session_window_days`` form at
   least ``tier_session_threshold`` sessions (``tier_session_gap_minutes`` of inactivity starts
   a new one) are promoted (reason ``threshold``); ingest sees them within its cache TTL.
2. Entered: the anonymous ids that entered the full pipeline since the last sweep, found in the
   identity assignments (identity writes one when it first sees an id; the table holds
   identifiers, not events, so this scan is small), with the userId seen with each.
3. First touch: each entered id gets its attribution document from its earliest event, cold or
   engaged, within the attribution window (``tier_attribution_window_days``), and the person's
   profile gets it too (see ``shared.tiering.attribution``).

Only the entered ids are looked up in the archive and the events (``IN UNNEST(@ids)``, which
prunes the clustered blocks), and nothing is scanned when none entered: the sweep's cost follows
the new ids, not the active ones. ``sweeps/tier-promotion-sweep`` keeps where the last
successful sweep got to; the next one looks ``OVERLAP`` further back (assignments loaded late),
never more than ``tier_attribution_lookback_days``, and leaves the ids assigned in the last
``tier_sweep_settle_seconds`` to the next sweep (their cold events may still be on their way to
the archive: a back-fill is sent once, so it waits for the whole journey). Everything is
idempotent: promotions and attributions are created once, never overwritten; an id seen twice
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.identity.attribution import attach_first_touch, touch_from_attribution
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.tiering.attribution import first_touch, record_missing
from shared.tiering.rule import Reason
from shared.tiering.state import Promotion, PromotionState
from shared.warehouse.layers import IDENTITY_ASSIGNMENTS_TABLE, PROCESSED
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, EVENTS_TABLE, RAW

SWEEPS = "sweeps"
SWEEP = "tier-promotion-sweep"
OVERLAP = timedelta(minutes=30)

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

ENTERED_SQL = """
WITH new_ids AS (
  SELECT DISTINCT identifier_value AS anonymous_id
  FROM `{assignments}`
  WHERE identifier_type = 'anonymous_id' AND recorded_at BETWEEN @since AND @until
), seen AS (
  SELECT anonymous_id, user_id FROM `{events}`
  WHERE received_at >= @since_events AND anonymous_id IN (SELECT anonymous_id FROM new_ids)
)
SELECT n.anonymous_id, MAX(s.user_id) AS user_id
FROM new_ids AS n LEFT JOIN seen AS s ON s.anonymous_id = n.anonymous_id
GROUP BY n.anonymous_id
ORDER BY n.anonymous_id
"""

FIRST_TOUCH_SQL = """
WITH history AS (
  SELECT anonymous_id, timestamp, received_at, message_id, payload FROM `{cold}`
  WHERE received_at >= TIMESTAMP_SUB(@now, INTERVAL @window DAY)
    AND anonymous_id IN UNNEST(@ids)
  UNION ALL
  SELECT anonymous_id, timestamp, received_at, message_id, payload FROM `{events}`
  WHERE received_at >= @since_events AND anonymous_id IN UNNEST(@ids)
), first_events AS (
  SELECT anonymous_id, payload,
         ROW_NUMBER() OVER (
           PARTITION BY anonymous_id ORDER BY timestamp, received_at, message_id
         ) AS n
  FROM history
)
SELECT anonymous_id, TO_JSON_STRING(payload) AS payload
FROM first_events
WHERE n = 1
ORDER BY anonymous_id
"""


@dataclass(frozen=True)
class Entered:
    """An anonymous id that entered the full pipeline, and the userId seen with it (if any)."""

    anonymous_id: str
    user_id: str | None


def threshold_candidates(settings: Settings, sql: SqlRunner, now: datetime) -> list[dict[str, Any]]:
    query = THRESHOLD_SQL.format(cold=settings.table(RAW, COLD_ARCHIVE_TABLE))
    params = {
        "now": now,
        "days": settings.tier_session_window_days,
        "gap": settings.tier_session_gap_minutes,
        "threshold": settings.tier_session_threshold,
    }
    return sql.query(query, params)


def sweep_window(
    documents: DocumentStore, settings: Settings, now: datetime
) -> tuple[datetime, datetime]:
    """The assignments this sweep handles: recorded from ``since`` (where the last success got
    to, less ``OVERLAP``; at most the lookback ago) until ``tier_sweep_settle_seconds`` ago
    (an id that entered just now may still have cold events in the archive loader's retries)."""
    until = now - timedelta(seconds=settings.tier_sweep_settle_seconds)
    floor = until - timedelta(days=settings.tier_attribution_lookback_days)
    state = documents.get(SWEEPS, SWEEP) or {}
    last = state.get("entered_until")
    if isinstance(last, str) and last:
        return max(datetime.fromisoformat(last) - OVERLAP, floor), until
    return floor, until


def advance(documents: DocumentStore, until: datetime) -> None:
    """Record that every id assigned before ``until`` was handled (after the whole job)."""
    documents.set(SWEEPS, SWEEP, {"entered_until": until.isoformat()})


def entered_since(
    settings: Settings, sql: SqlRunner, since: datetime, until: datetime
) -> list[Entered]:
    query = ENTERED_SQL.format(
        assignments=settings.table(PROCESSED, IDENTITY_ASSIGNMENTS_TABLE),
        events=settings.table(RAW, EVENTS_TABLE),
    )
    # The userId was seen with the id around its entry: its events from a day before `since`.
    params = {"since": since, "until": until, "since_events": events_floor(since)}
    return [Entered(r["anonymous_id"], r["user_id"]) for r in sql.query(query, params)]


def events_floor(since: datetime) -> datetime:
    """An id that entered at ``since`` or later has no engaged event much before it."""
    return since - timedelta(days=1)


def first_touches(
    settings: Settings, sql: SqlRunner, entered: list[Entered], now: datetime, since: datetime
) -> list[dict[str, Any]]:
    if not entered:
        return []
    query = FIRST_TOUCH_SQL.format(
        cold=settings.table(RAW, COLD_ARCHIVE_TABLE), events=settings.table(RAW, EVENTS_TABLE)
    )
    users = {e.anonymous_id: e.user_id for e in entered}
    params = {
        "now": now,
        "window": settings.tier_attribution_window_days,
        "ids": list(users),
        "since_events": events_floor(since),
    }
    rows = sql.query(query, params)
    return [first_touch(r["anonymous_id"], r["payload"] or "{}", users[r["anonymous_id"]])
            for r in rows]  # fmt: skip


def run_sweep(
    settings: Settings,
    sql: SqlRunner,
    documents: DocumentStore,
    clock: Clock,
    entered: list[Entered],
    since: datetime,
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
    touches = first_touches(settings, sql, entered, now, since)
    attributed = record_missing(documents, touches)
    # Onto the person's profile too (idempotent; the earliest touch of any of their ids wins).
    on_profiles = [attach_first_touch(documents, touch_from_attribution(t)) for t in touches]
    return {
        "threshold_candidates": len(candidates),
        "promoted": promoted,
        "entered_recently": len(entered),
        "attributed": attributed,
        "profiles_with_first_touch": sum(1 for p in on_profiles if p),
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
