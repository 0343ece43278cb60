"""Definitions → BigQuery SQL: one query computes every computed trait and audience per person.

A person is a current profile of the identity map; an event counts for the profile of its
userId when that is mapped, else of its anonymousId (as ``cdp_curated.event_profiles``), so a
merge moves every event, old ones too, to the surviving profile at the next run. A message
counts once, as its first-loaded copy (``sql_state.py``).

Cost follows the windows (docs/audiences.md): windowed aggregates read only the raw partitions
received since ``@as_of`` minus the longest window minus one day (events arrive after they
happen, and ingest caps a timestamp at 24 h ahead of its arrival), and filter on ``timestamp``.
All-time aggregates read the small state table (``compile_state``: per event identifier and
hour loaded) for the messages first loaded before a cut, ``STATE_CUT`` = the earlier of
``@state_until`` and ``@as_of`` minus 25 hours (hour-aligned), and the raw rows first loaded
since the cut, from the partitions received since the cut minus 7 days. Below the cut no event
can be timestamped after ``@as_of``; above it, the raw read filters ``timestamp <= @as_of``.
Without the state (``use_state=False``: a historical ``--as-of`` or a preview) they read the
whole raw history. Both give the same answer (the facts are rolled up the same way), under the
bounds ``sql_state.py`` names: a message loaded within 7 days of its ``receivedAt``, and a
timestamp at most 24 hours ahead of it.
"""

from __future__ import annotations

from shared.audiences.definitions import Definitions
from shared.audiences.sql_parts import FACT_COLUMNS, fact_select, final_aggregate, text, within
from shared.audiences.sql_rules import RuleCompiler
from shared.audiences.sql_specs import Plan, plan_of
from shared.audiences.sql_state import (
    STATE_COLUMNS,
    STATE_CUT,
    STATE_ID,
    loaded,
    received,
    state_facts,
    state_rows,
)
from shared.metrics.sessions import sessions_sql
from shared.settings import Settings
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW, PROCESSED, USERS_TABLE


def _current_map(settings: Settings) -> str:
    return (
        "SELECT identifier_type, identifier_value, profile_id\n"
        f"  FROM `{settings.table(CURATED, IDENTITY_MAP_VIEW)}` WHERE valid_to IS NULL"
    )


def _profiled(events: str, *extra: str) -> str:
    """``events`` (a raw read), up to ``@as_of`` by event time, with their profile; events of
    no profile are nobody's."""
    filters = " AND ".join(
        ["e.timestamp <= @as_of", *extra, "COALESCE(u.profile_id, a.profile_id) IS NOT NULL"]
    )
    return (
        "SELECT e.*, COALESCE(u.profile_id, a.profile_id) AS profile_id\n"
        f"  FROM ({events}) AS e\n"
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
        recent = received(settings, f"received_at >= {lower}")
        ctes.append(("recent", _profiled(recent, within(plan.reach_days))))
        facts += [
            fact_select(s, "recent", "profile_id", within(s.window_days))
            for s in plan.windowed
            if s.window_days is not None
        ]
    if plan.all_time:
        history = loaded(settings, STATE_CUT) if use_state else received(settings, "TRUE")
        ctes.append(("history", _profiled(history)))
        facts += [fact_select(s, "history", "profile_id") for s in plan.all_time]
    if plan.all_time and use_state:
        ctes.append(("state_facts", state_facts(plan, settings)))
        facts.append(f"SELECT trait_key, profile_id, value, {FACT_COLUMNS} FROM state_facts")
    if facts:
        ctes.append(("facts", _union(facts)))
        ctes.append((
            "rolled",
            "SELECT *,\n"
            "    MIN(first_at) OVER (PARTITION BY trait_key, profile_id) AS earliest,\n"
            "    MAX(last_at) OVER (PARTITION BY trait_key, profile_id) AS latest,\n"
            "    MAX(events) OVER (PARTITION BY trait_key, profile_id) AS top,\n"
            "    ROW_NUMBER() OVER (PARTITION BY trait_key, profile_id ORDER BY value)\n"
            "      AS value_rank\n"
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
    """The state table's rows for the messages first loaded in ``[@from, @until)`` (hour
    boundaries): per all-time aggregate (hidden ones too), the event's own identifier (its
    userId, else its anonymousId) and anonymousId, hour loaded and value. Nothing here reads
    the identity map, so an hour computed again after a merge gives the same ``state_id``s;
    each run resolves the identifiers to profiles through the map of its day."""
    plan = plan_of(defs)
    if not plan.all_time:
        return (
            "SELECT CAST(NULL AS STRING) AS state_id, CAST(NULL AS STRING) AS trait_key,\n"
            "  CAST(NULL AS STRING) AS identifier_type, CAST(NULL AS STRING) AS identifier_value,\n"
            "  CAST(NULL AS STRING) AS anonymous_id, CAST(NULL AS TIMESTAMP) AS loaded_hour,\n"
            "  CAST(NULL AS STRING) AS value,\n"
            "  CAST(NULL AS INT64) AS events, CAST(NULL AS FLOAT64) AS total,\n"
            "  CAST(NULL AS FLOAT64) AS minimum, CAST(NULL AS FLOAT64) AS maximum,\n"
            "  CAST(NULL AS TIMESTAMP) AS first_at, CAST(NULL AS TIMESTAMP) AS last_at,\n"
            "  CAST(NULL AS TIMESTAMP) AS recorded_at\nLIMIT 0\n"
        )
    select = (
        f"SELECT {STATE_ID} AS state_id,\n  {STATE_COLUMNS},\n  CURRENT_TIMESTAMP() AS recorded_at"
    )
    return _with(state_rows(plan, settings), f"{select}\nFROM facts")


def state_keys(defs: Definitions) -> list[str]:
    """The state table's keys these definitions read: one per all-time aggregate, a hash of
    what it aggregates (``sql_specs``). ``state.refresh_state`` starts a key it has not kept
    yet (a new trait, or one redefined under its name) from the beginning of the history."""
    return sorted(s.key for s in plan_of(defs).all_time)
