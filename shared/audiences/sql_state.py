"""The raw reads and the all-time state, as SQL: which copy of a message counts, and where.

A message can have several rows in the raw tables: a Pub/Sub redelivery loaded again (the
warehouse dedup job removes the later copies, but only hours later), or the same message in the
cold archive and the engaged table. Everywhere, a message counts once, as its **first-loaded**
copy (``loaded_at``, then the engaged table before the cold archive, then ``received_at``): the
copy the dedup job keeps, so an answer does not change when it runs.

The state table rolls events up per hour **loaded** (``loaded_hour``): a row is queryable
seconds after its ``loaded_at`` (well within ``state.SETTLE``), so once the state holds an hour,
no event loaded in it can still appear. Two bounds make the reads cheap and exact:

- ``LOAD_DAYS``: no event is loaded more than 7 days after ingest received it (Pub/Sub keeps an
  unacknowledged message 7 days), so the events loaded since a moment, and every earlier copy
  of theirs, lie in the partitions received since that moment minus 7 days.
- ``AHEAD_HOURS``: ingest stamps an event ahead of its arrival by at most 24 hours
  (``max_future_seconds``) and loads it after it arrives, so an event loaded before
  ``@as_of - 25 h`` has its timestamp before ``@as_of`` (an hour of margin for clocks). A run
  reads the state only below that cut (``STATE_CUT``) and the raw rows above it, where
  ``timestamp <= @as_of`` filters as in the full history.
"""

from __future__ import annotations

from shared.audiences.names import AUDIENCES_SOURCE_ID, INTERNAL_SOURCE_PREFIX
from shared.audiences.sql_parts import FACT_COLUMNS, fact_select, text
from shared.audiences.sql_specs import Plan
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.settings import Settings
from shared.warehouse.layers import COLD_ARCHIVE_TABLE, EVENTS_TABLE, PROCESSED, RAW

# The platform's own sources: the job's events and the SQL sources' identifies (``sql-<key>``,
# sql_source_rows.py). They are never a person's activity: no session, no trait, no rule.
NOT_OURS = (
    f"(source_id IS NULL OR (source_id != {text(AUDIENCES_SOURCE_ID)}"
    f" AND source_id NOT LIKE '{INTERNAL_SOURCE_PREFIX}%'))"
)
LOAD_DAYS = 7  # Pub/Sub's retention: the longest an event waits between ingest and the loader
AHEAD_HOURS = 25  # ingest's cap on a timestamp ahead of its arrival (24 h), plus an hour
EVENT_COLUMNS = (
    "message_id, event, user_id, anonymous_id, source_id, timestamp, received_at, loaded_at, "
    "payload"
)
FIRST_LOADED = "PARTITION BY message_id ORDER BY loaded_at, copy_order, received_at"
STATE_CUT = (
    "TIMESTAMP_TRUNC(LEAST(@state_until, "
    f"TIMESTAMP_SUB(@as_of, INTERVAL {AHEAD_HOURS} HOUR)), HOUR)"
)
STATE_KEY = "identifier_type, identifier_value, anonymous_id, loaded_hour"
STATE_COLUMNS = f"trait_key, {STATE_KEY}, value, {FACT_COLUMNS}"


def received(settings: Settings, condition: str) -> str:
    """Raw events (engaged and cold) received under ``condition``, each message once (its
    first-loaded copy among them), none from the platform's own sources (``NOT_OURS``)."""
    union = " UNION ALL ".join(
        f"SELECT {EVENT_COLUMNS}, {order} AS copy_order FROM `{settings.table(RAW, table)}`"
        f" WHERE {condition}"
        for order, table in enumerate((EVENTS_TABLE, COLD_ARCHIVE_TABLE))
    )
    return (
        f"SELECT * FROM ({union})\n"
        f"    WHERE {NOT_OURS}\n"
        f"    QUALIFY ROW_NUMBER() OVER ({FIRST_LOADED}) = 1"
    )


def loaded(settings: Settings, since: str, until: str | None = None) -> str:
    """The messages first loaded in ``[since, until)``: each message's first-loaded copy among
    its rows received since ``since`` minus ``LOAD_DAYS`` (which hold every copy loaded since,
    and the earlier copies of those), kept when it was loaded in the span."""
    prune = f"received_at >= TIMESTAMP_SUB({since}, INTERVAL {LOAD_DAYS} DAY)"
    span = " AND ".join([f"loaded_at >= {since}", *([f"loaded_at < {until}"] if until else [])])
    return f"SELECT * FROM ({received(settings, prune)})\n    WHERE {span}"


def state_rows(plan: Plan, settings: Settings) -> list[tuple[str, str]]:
    """The CTEs of ``compile_state``: facts per all-time key, identifier, anonymousId and hour
    loaded, for the messages first loaded in ``[@from, @until)``. The identifier is the event's
    own (its userId, else its anonymousId), never the identity map's: the same hour gives the
    same rows whenever it is computed, and each run resolves them through the map of its day."""
    identified = (
        "SELECT *,\n"
        "    IF(user_id IS NOT NULL, 'user_id', 'anonymous_id') AS identifier_type,\n"
        "    COALESCE(user_id, anonymous_id) AS identifier_value,\n"
        "    TIMESTAMP_TRUNC(loaded_at, HOUR) AS loaded_hour\n"
        f"  FROM ({loaded(settings, '@from', '@until')})\n"
        "  WHERE COALESCE(user_id, anonymous_id) IS NOT NULL"
    )
    facts = "\n  UNION ALL\n  ".join(fact_select(s, "identified", STATE_KEY) for s in plan.all_time)
    return [("identified", identified), ("facts", facts)]


STATE_ID = (
    "TO_HEX(SHA256(CONCAT(trait_key, '|', identifier_type, '|', identifier_value, '|',\n"
    "    IFNULL(CONCAT('=', anonymous_id), ''), '|', CAST(UNIX_SECONDS(loaded_hour) AS STRING),"
    " '|', value)))"
)


def state_facts(plan: Plan, settings: Settings) -> str:
    """A run's facts from the state table, loaded before ``STATE_CUT``, per profile: the row's
    userId's profile if the map has it, else its anonymousId's (the full history's rule)."""
    keys = ", ".join(text(s.key) for s in plan.all_time)
    state = settings.table(PROCESSED, TRAIT_STATE_TABLE)
    facts = ", ".join(f"s.{column}" for column in FACT_COLUMNS.split(", "))
    return (
        f"SELECT s.trait_key, COALESCE(u.profile_id, a.profile_id) AS profile_id, s.value,\n"
        f"    {facts}\n"
        f"  FROM (SELECT * FROM `{state}`\n"
        f"    WHERE loaded_hour < {STATE_CUT} AND trait_key IN ({keys})\n"
        "    QUALIFY ROW_NUMBER() OVER (PARTITION BY state_id ORDER BY recorded_at) = 1) AS s\n"
        "  LEFT JOIN current_map AS u\n"
        "    ON s.identifier_type = 'user_id' AND u.identifier_type = 'user_id'\n"
        "    AND u.identifier_value = s.identifier_value\n"
        "  LEFT JOIN current_map AS a\n"
        "    ON a.identifier_type = 'anonymous_id' AND a.identifier_value = s.anonymous_id\n"
        "  WHERE COALESCE(u.profile_id, a.profile_id) IS NOT NULL"
    )
