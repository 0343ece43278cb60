"""Definitions → BigQuery SQL: one query computes every computed trait and audience per person.

A person is a current profile of the identity map; an event counts for the profile of its
userId when that is mapped, else of its anonymousId (as ``cdp_curated.event_profiles``), so a
merge moves every event, old ones too, to the surviving profile at the next run.

Cost follows the windows (docs/audiences.md): windowed aggregates read only the raw partitions
received since ``@as_of`` minus the longest window minus one day (events arrive after they
happen, and ingest caps a timestamp at 24 h ahead of its arrival), and filter on ``timestamp``.
All-time aggregates read the small state table (``compile_state``: per identifier and hour
received) for what was received before ``@state_until`` and the raw events received since;
without the state (``use_state=False``: a historical ``--as-of`` or a preview) they read the
whole raw history. Both give the same answer: the facts are rolled up the same way. An event
counted from the state table counts even when its timestamp is after ``@as_of`` (rare: ingest
corrects device clocks); the raw reads never count such an event.
"""

from __future__ import annotations

from shared.audiences.definitions import Definitions
from shared.audiences.sql_parts import FACT_COLUMNS, fact_select, final_aggregate, text, within
from shared.audiences.sql_rules import RuleCompiler
from shared.audiences.sql_specs import Plan, hidden_key, jsonable, plan_of
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.metrics.sessions import sessions_sql
from shared.settings import Settings
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
    USERS_TABLE,
)

STATE_FACTS = ", ".join(f"s.{column}" for column in FACT_COLUMNS.split(", "))
AUDIENCES_SOURCE_ID = "audiences"  # our own events: they never count
EVENT_COLUMNS = (
    "message_id, event, user_id, anonymous_id, source_id, timestamp, received_at, payload"
)


def _current_map(settings: Settings) -> str:
    return (
        "SELECT identifier_type, identifier_value, profile_id\n"
        f"  FROM `{settings.table(CURATED, IDENTITY_MAP_VIEW)}` WHERE valid_to IS NULL"
    )


def _received(settings: Settings, condition: str) -> str:
    """Raw events (engaged and cold) received under ``condition``, each message once, not ours."""
    union = " UNION ALL ".join(
        f"SELECT {EVENT_COLUMNS} FROM `{settings.table(RAW, table)}` WHERE {condition}"
        for table in (EVENTS_TABLE, COLD_ARCHIVE_TABLE)
    )
    return (
        f"SELECT * FROM ({union})\n"
        f"    WHERE source_id IS NULL OR source_id != {text(AUDIENCES_SOURCE_ID)}\n"
        "    QUALIFY ROW_NUMBER() OVER (PARTITION BY message_id ORDER BY received_at) = 1"
    )


def _profiled(settings: Settings, condition: str, *extra: str) -> str:
    """Events received under ``condition``, up to ``@as_of`` by event time, with their profile;
    events of no profile are nobody's."""
    filters = " AND ".join(
        ["e.timestamp <= @as_of", *extra, "COALESCE(u.profile_id, a.profile_id) IS NOT NULL"]
    )
    return (
        "SELECT e.*, COALESCE(u.profile_id, a.profile_id) AS profile_id\n"
        f"  FROM ({_received(settings, condition)}) AS e\n"
        "  LEFT JOIN current_map AS u\n"
        "    ON u.identifier_type = 'user_id' AND u.identifier_value = e.user_id\n"
        "  LEFT JOIN current_map AS a\n"
        "    ON a.identifier_type = 'anonymous_id' AND a.identifier_value = e.anonymous_id\n"
        f"  WHERE {filters}"
    )


def _union(selects: list[str]) -> str:
    return "\n  UNION ALL\n  ".join(selects)


def _fact_ctes(plan: Plan, settings: Settings, use_state: bool) -> list[tuple[str, str]]:
    ctes: list[tuple[str, str]] = []
    facts: list[str] = []
    if plan.windowed or plan.sessions:
        lower = f"TIMESTAMP_SUB(@as_of, INTERVAL {plan.reach_days + 1} DAY)"
        ctes.append(
            ("recent", _profiled(settings, f"received_at >= {lower}", within(plan.reach_days)))
        )
        facts += [
            fact_select(s, "recent", "profile_id", within(s.window_days))
            for s in plan.windowed
            if s.window_days is not None
        ]
    if plan.all_time:
        since = "received_at >= @state_until" if use_state else "TRUE"
        ctes.append(("history", _profiled(settings, since)))
        facts += [fact_select(s, "history", "profile_id") for s in plan.all_time]
    if plan.all_time and use_state:
        keys = ", ".join(text(s.key) for s in plan.all_time)
        state = settings.table(PROCESSED, TRAIT_STATE_TABLE)
        ctes.append((
            "state_facts",
            f"SELECT s.trait_key, m.profile_id, s.value, {STATE_FACTS}\n"
            f"  FROM (SELECT * FROM `{state}`\n"
            f"    WHERE received_hour < @state_until AND trait_key IN ({keys})\n"
            "    QUALIFY ROW_NUMBER() OVER (PARTITION BY state_id ORDER BY recorded_at) = 1) AS s\n"
            "  JOIN current_map AS m\n"
            "    ON m.identifier_type = s.identifier_type\n"
            "    AND m.identifier_value = s.identifier_value",
        ))  # fmt: skip
        facts.append(f"SELECT trait_key, profile_id, value, {FACT_COLUMNS} FROM state_facts")
    if facts:
        ctes.append(("facts", _union(facts)))
        ctes.append((
            "rolled",
            "SELECT *,\n"
            "    MIN(first_at) OVER (PARTITION BY trait_key, profile_id) AS earliest,\n"
            "    MAX(last_at) OVER (PARTITION BY trait_key, profile_id) AS latest,\n"
            "    MAX(events) OVER (PARTITION BY trait_key, profile_id) AS top\n"
            "  FROM (SELECT trait_key, profile_id, value, SUM(events) AS events,\n"
            "      SUM(total) AS total, MIN(minimum) AS minimum, MAX(maximum) AS maximum,\n"
            "      MIN(first_at) AS first_at, MAX(last_at) AS last_at\n"
            "    FROM facts GROUP BY trait_key, profile_id, value)",
        ))  # fmt: skip
        columns = ",\n    ".join(f"{final_aggregate(s)} AS {s.column}" for s in plan.specs)
        ctes.append(
            ("aggregates", f"SELECT profile_id,\n    {columns}\n  FROM rolled GROUP BY profile_id")
        )
    return ctes


def _session_ctes(plan: Plan, settings: Settings) -> list[tuple[str, str]]:
    if not plan.sessions:
        return []
    servers = [s.id for s in settings.sources if s.kind == "server"]
    not_server = (
        f" WHERE source_id IS NULL OR source_id NOT IN ({', '.join(text(i) for i in servers)})"
        if servers
        else ""
    )
    counts = []
    for s in plan.sessions.values():
        edge = f"TIMESTAMP_SUB(@as_of, INTERVAL {s.recent_days} DAY)"
        start = f"TIMESTAMP_SUB(@as_of, INTERVAL {s.recent_days + s.prior_days} DAY)"
        counts.append(f"COUNTIF(session_start > {edge}) AS {s.key}_recent")
        counts.append(
            f"COUNTIF(session_start > {start} AND session_start <= {edge}) AS {s.key}_prior"
        )
    events = (
        f"SELECT profile_id, timestamp, CAST(NULL AS STRING) AS platform FROM recent{not_server}"
    )
    return [
        ("sessions", sessions_sql(events)),
        ("session_counts", (
            "SELECT profile_id,\n    " + ",\n    ".join(counts)
            + "\n  FROM sessions GROUP BY profile_id"
        )),
    ]  # fmt: skip


def _people_ctes(plan: Plan, settings: Settings) -> list[tuple[str, str]]:
    present = []
    if plan.windowed or plan.sessions:
        present.append(f"SELECT profile_id FROM recent WHERE {within(plan.longest_days)}")
    if plan.windowed or plan.all_time:
        present.append("SELECT profile_id FROM rolled")
    people = " UNION DISTINCT ".join(present) or "SELECT CAST(NULL AS STRING) AS profile_id LIMIT 0"
    ctes = [
        ("people", people),
        ("ids", (
            "SELECT profile_id,\n"
            "    MIN(IF(identifier_type = 'user_id', identifier_value, NULL)) AS user_id,\n"
            "    MIN(IF(identifier_type = 'anonymous_id', identifier_value, NULL))\n"
            "      AS anonymous_id\n"
            "  FROM current_map WHERE profile_id IN (SELECT profile_id FROM people)\n"
            "  GROUP BY profile_id"
        )),
    ]  # fmt: skip
    if plan.profile_traits:
        users = settings.table(PROCESSED, USERS_TABLE)
        ctes.append((
            "profile_traits",
            f"SELECT user_id, traits FROM `{users}`\n"
            "  WHERE user_id IN (SELECT user_id FROM ids)\n"
            "  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY refreshed_at DESC) = 1",
        ))  # fmt: skip
    return ctes


def _with(ctes: list[tuple[str, str]], select: str) -> str:
    body = ",\n".join(f"{name} AS (\n  {sql}\n)" for name, sql in ctes)
    return f"WITH {body}\n{select}\n"


def compile_run(defs: Definitions, settings: Settings, *, use_state: bool) -> str:
    """One row per profile with an event in the longest window or an all-time aggregate:
    ``profile_id, user_id, anonymous_id, t_<trait>..., a_<audience>...``. Parameters:
    ``@as_of`` (TIMESTAMP), and ``@state_until`` (TIMESTAMP) when ``use_state``."""
    plan = plan_of(defs)
    ctes = [
        ("current_map", _current_map(settings)),
        *_fact_ctes(plan, settings, use_state),
        *_session_ctes(plan, settings),
        *_people_ctes(plan, settings),
    ]
    joins = ["LEFT JOIN ids ON ids.profile_id = p.profile_id"]
    if plan.windowed or plan.all_time:
        joins.append("LEFT JOIN aggregates AS t ON t.profile_id = p.profile_id")
    if plan.sessions:
        joins.append("LEFT JOIN session_counts AS sc ON sc.profile_id = p.profile_id")
    if plan.profile_traits:
        joins.append("LEFT JOIN profile_traits AS pt ON pt.user_id = ids.user_id")
    rules = RuleCompiler(defs, plan)
    traits = [f"{s.column}" for s in plan.traits]
    raw = [f"{rules.audience(key)} AS r_{key}" for key in defs.audiences]
    ctes.append((
        "rules",
        "SELECT p.profile_id, ids.user_id,\n"
        "    IF(ids.user_id IS NULL, ids.anonymous_id, NULL) AS anonymous_id,\n    "
        + ",\n    ".join([*traits, *raw])
        + "\n  FROM people AS p\n  " + "\n  ".join(joins),
    ))  # fmt: skip
    members = [f"{rules.membership(key)} AS a_{key}" for key in defs.audiences]
    select = ",\n  ".join(["profile_id", "user_id", "anonymous_id", *traits, *members])
    return _with(ctes, f"SELECT\n  {select}\nFROM rules")


def compile_state(defs: Definitions, settings: Settings) -> str:
    """The state table's rows for the raw events received in ``[@from, @until)``: per all-time
    aggregate (hidden ones too), identifier, hour received and value. An event is kept under its
    userId when that is mapped (or it has no anonymousId), else under its anonymousId: the rule
    of a run, applied once; each run resolves the identifiers to profiles again."""
    plan = plan_of(defs)
    columns = "trait_key, identifier_type, identifier_value, received_hour, value, " + FACT_COLUMNS
    if not plan.all_time:
        return (
            "SELECT CAST(NULL AS STRING) AS state_id, CAST(NULL AS STRING) AS trait_key,\n"
            "  CAST(NULL AS STRING) AS identifier_type, CAST(NULL AS STRING) AS identifier_value,\n"
            "  CAST(NULL AS TIMESTAMP) AS received_hour, CAST(NULL AS STRING) AS value,\n"
            "  CAST(NULL AS INT64) AS events, CAST(NULL AS FLOAT64) AS total,\n"
            "  CAST(NULL AS FLOAT64) AS minimum, CAST(NULL AS FLOAT64) AS maximum,\n"
            "  CAST(NULL AS TIMESTAMP) AS first_at, CAST(NULL AS TIMESTAMP) AS last_at,\n"
            "  CAST(NULL AS TIMESTAMP) AS recorded_at\nLIMIT 0\n"
        )
    by_user = "e.user_id IS NOT NULL AND (u.profile_id IS NOT NULL OR e.anonymous_id IS NULL)"
    identified = (
        "SELECT e.*,\n"
        f"    IF({by_user}, 'user_id', 'anonymous_id') AS identifier_type,\n"
        f"    IF({by_user}, e.user_id, e.anonymous_id) AS identifier_value,\n"
        "    TIMESTAMP_TRUNC(e.received_at, HOUR) AS received_hour\n"
        f"  FROM ({_received(settings, 'received_at >= @from AND received_at < @until')}) AS e\n"
        "  LEFT JOIN current_map AS u\n"
        "    ON u.identifier_type = 'user_id' AND u.identifier_value = e.user_id\n"
        "  WHERE COALESCE(e.user_id, e.anonymous_id) IS NOT NULL"
    )
    group = "identifier_type, identifier_value, received_hour"
    facts = _union([fact_select(s, "identified", group) for s in plan.all_time])
    state_id = (
        "TO_HEX(SHA256(CONCAT(trait_key, '|', identifier_type, '|', identifier_value, '|',\n"
        "    CAST(UNIX_SECONDS(received_hour) AS STRING), '|', value)))"
    )
    ctes = [("current_map", _current_map(settings)), ("identified", identified), ("facts", facts)]
    select = f"SELECT {state_id} AS state_id,\n  {columns},\n  CURRENT_TIMESTAMP() AS recorded_at"
    return _with(ctes, f"{select}\nFROM facts")


def state_fingerprint(defs: Definitions) -> str:
    """What the state table's rows mean: a hash of every all-time aggregate (key and what it
    aggregates). When it changes (a trait redefined under its key), the state must be rebuilt
    from the start of the raw history; rows of an unchanged aggregate stay right."""
    specs = sorted(
        (s.key, s.aggregate, s.event, s.prop, jsonable(s.where)) for s in plan_of(defs).all_time
    )
    return hidden_key("state", specs)
