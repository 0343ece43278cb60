"""Hand-built event histories whose audience memberships are known, for the audience SQL's
tests on the BigQuery emulator (tests/integration/test_audience_sql.py): the population, its
rows for each table, and the answers of the module's queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.audiences.definitions import Definitions, load_definitions, parse_definitions
from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.settings import Source
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENTS_TABLE,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
    USERS_TABLE,
)
from shared.warehouse.rows import event_row, to_json

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the run's as-of
PAST = T - timedelta(days=10)  # a historical --as-of
STATE_UNTIL = T - timedelta(hours=2)  # hours before it are in the state table
FIRST_STATE = T - timedelta(days=5)  # a first refresh up to here, before later loads
D, S = timedelta(days=1), timedelta(seconds=1)
COVERAGE = Path(__file__).parents[1] / "fixtures" / "audiences" / "coverage.yaml"
TABLES = (
    f"{RAW}.{EVENTS_TABLE}",
    f"{RAW}.{COLD_ARCHIVE_TABLE}",
    f"{PROCESSED}.{IDENTITY_ASSIGNMENTS_TABLE}",
    f"{PROCESSED}.{TRAIT_STATE_TABLE}",
    f"{PROCESSED}.{USERS_TABLE}",
    f"{CURATED}.{IDENTITY_MAP_VIEW}",
)
SOURCES = [
    Source(id="web", name="Web", kind="web", write_key_sha256=""),
    Source(id="backend", name="Backend", kind="server", write_key_sha256=""),
]


@dataclass
class Population:
    """Events and identity assignments, built per person."""

    run: str  # a prefix for this module's ids
    events: list[dict[str, Any]] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    later: list[dict[str, Any]] = field(default_factory=list)  # assignments after the state

    def pid(self, person: str) -> str:
        return f"{self.run}-p-{person}"

    def person(self, name: str, *, user: bool = True, devices: int = 1) -> None:
        ids = [("anonymous_id", f"{self.run}-a-{name}-{d}") for d in range(devices)]
        ids += [("user_id", f"{self.run}-u-{name}")] if user else []
        for kind, value in ids:
            self.assign(self.pid(name), kind, value, T - 400 * D, self.assignments)

    def assign(
        self, profile: str, kind: str, value: str, at: datetime, into: list[dict[str, Any]]
    ) -> None:
        change = f"{self.run}-c-{len(self.assignments) + len(self.later)}"
        into.append({
            "assignment_id": f"{change}:{kind}:{value}", "change_id": change,
            "change": "created", "identifier_type": kind, "identifier_value": value,
            "profile_id": profile, "valid_from": at.isoformat(), "recorded_at": at.isoformat(),
        })  # fmt: skip

    def event(
        self,
        name: str,
        event: str | None,
        at: datetime,
        *,
        device: int | None = None,  # None: sent with the userId; else that device's anonymousId
        source: str = "web",
        received: datetime | None = None,
        loaded: datetime | None = None,  # None: a second after it was received
        cold: bool = False,
        message_id: str | None = None,
        **properties: Any,
    ) -> str:
        mid = message_id or f"{self.run}-m-{len(self.events) + len(self.cold)}"
        payload = {
            "type": "track" if event else "page", "event": event, "messageId": mid,
            "userId": None if device is not None else f"{self.run}-u-{name}",
            "anonymousId": f"{self.run}-a-{name}-{device or 0}", "sourceId": source,
            "timestamp": at.isoformat(), "receivedAt": (received or at + 60 * S).isoformat(),
            "properties": properties,
        }  # fmt: skip
        when = loaded or (received or at + 60 * S) + S
        (self.cold if cold else self.events).append(event_row(payload, when.isoformat()))
        return mid


def build(p: Population) -> dict[str, set[str]]:
    """The histories; returns who is in each audience at ``T``, by hand."""
    for name in ("ai_exact", "ai_plus", "ai_linked", "later"):
        p.person(name)
    p.event("ai_exact", "account_created", T - 7 * D)  # exactly 7 days: not before
    p.event("ai_plus", "account_created", T - 7 * D - S)
    p.event("ai_linked", "account_created", T - 10 * D)
    p.event("ai_linked", "bank_account_linked", T - 9 * D)
    # Created 20 days ago, linked 5 days ago (received after the state): at PAST not yet linked.
    p.event("later", "account_created", T - 20 * D)
    p.event("later", "bank_account_linked", T - 5 * D, received=T - 30 * 60 * S)

    for name in ("fd_yes", "fd_edge", "fd_no"):
        p.person(name)
        p.event(name, "bank_account_linked", T - 40 * D, source="backend")
    p.event("fd_yes", "transaction_initiated", T - 31 * D, amount=5)
    p.event("fd_edge", "transaction_initiated", T - 30 * D, amount=5)  # on the edge: outside
    p.event("fd_no", "transaction_initiated", T - 29 * D, amount=5)

    for name in ("ac_3", "ac_edge", "ac_2"):
        p.person(name)
        p.event(name, "transaction_completed", T - D, amount=100.5, type="deposit", method="ach")
        p.event(name, "transaction_completed", T - 2 * D, amount=50, type="card", method="pos")
    p.event("ac_3", "transaction_completed", T - 30 * D + S, amount=25.25, type="deposit",
            method="wire")  # fmt: skip
    p.event("ac_edge", "transaction_completed", T - 30 * D, amount=7, type="card", method="atm")
    p.person("dup")
    dup = p.event("dup", "transaction_completed", T - 3 * D, amount=1, type="x", method="ach")
    # The same message in the cold archive too (a promoted person's back-fill): counted once.
    p.event("dup", "transaction_completed", T - 3 * D, cold=True, message_id=dup, device=0,
            amount=1, type="x", method="ach")  # fmt: skip

    # Two devices, two profiles at first; merged after the state was computed.
    p.person("split", devices=1)
    p.assign(f"{p.pid('split')}-2", "anonymous_id", f"{p.run}-a-split-1", T - 400 * D,
             p.assignments)  # fmt: skip
    p.assign(p.pid("split"), "anonymous_id", f"{p.run}-a-split-1", T - 3 * 60 * S, p.later)
    p.event("split", "transaction_completed", T - 4 * D, device=0, amount=10, method="ach")
    p.event("split", "transaction_completed", T - 5 * D, device=0, amount=10, method="ach")
    p.event("split", "transaction_completed", T - 6 * D, device=1, amount=10, method="card")

    p.person("dd")
    p.event("dd", "direct_deposit_enabled", T - 200 * D, source="backend")

    _loads(p)
    _churn(p)
    _values(p)
    return {
        "activated_incomplete": {"ai_plus"},
        "funded_dormant": {"ai_linked", "later", "fd_yes", "fd_edge"},
        "active_core": {"ac_3", "split"},
        "direct_deposit": {"dd"},
        "churn_risk": {"cr_yes", "cr_gap31", "cr_recent_yes", "cr_sql"},
    }


LONG = "y" * 1500


def _values(p: Population) -> None:
    """Amounts BigQuery would read as NaN and infinity; more distinct values than a list keeps
    and a value longer than a trait keeps (40 days ago: all time only, in no audience)."""
    p.person("nan")
    for amount, ago in (("NaN", D), (5, D), ("inf", 35 * D), ("-Infinity", 35 * D)):
        p.event("nan", "transaction_completed", T - ago, amount=amount, type="x", method="x")
    p.person("many")
    for i in range(101):
        p.event("many", "transaction_completed", T - 40 * D, type=LONG, method=f"m{i:03}")
    p.event("many", "transaction_completed", T - 40 * D, type="short", method="z" * 1500)


LOADS = ("late", "retry", "retry_tail", "redelivered", "newcomer", "ahead")


def _loads(p: Population) -> None:
    """What the loader does to the state: each person has all-time amounts of 40 (``ALL_TIME``)
    and should count each message once, as the full history does."""
    for name in LOADS:
        p.person(name, user=name != "newcomer")
    # Received 6 days ago, loaded a day later (the loader retried): after the first refresh.
    p.event("late", "transaction_completed", T - 6 * D, amount=40, loaded=T - 5 * D + 7200 * S)
    # One message received twice (an SDK retry reaching another instance), 3 days apart: in
    # two refreshes; then in the state and in the raw rows since.
    twice = p.event("retry", "transaction_completed", T - 8 * D, amount=40)
    p.event("retry", "transaction_completed", T - 8 * D, amount=40, message_id=twice,
            received=T - 5 * D + 3 * 3600 * S)  # fmt: skip
    twice = p.event("retry_tail", "transaction_completed", T - 3 * D, amount=40)
    p.event("retry_tail", "transaction_completed", T - 3 * D, amount=40, message_id=twice,
            received=T - 3600 * S)  # fmt: skip
    # A Pub/Sub redelivery (the same receipt) loaded again two hours later, and in the same hour.
    again = p.event("redelivered", "transaction_completed", T - 9 * D, amount=40)
    for loaded in (T - 9 * D + 2 * 3600 * S, T - 9 * D + 120 * S):
        p.event("redelivered", "transaction_completed", T - 9 * D, amount=40, message_id=again,
                loaded=loaded)  # fmt: skip
    # Sent with a userId the map has only after the first refresh (a late identify).
    p.event("newcomer", "transaction_completed", T - 7 * D, amount=40)
    p.assign(p.pid("newcomer"), "user_id", f"{p.run}-u-newcomer", T - 3 * 60 * S, p.later)
    # Stamped 3 hours after as-of (ingest allows up to 24 h ahead of receipt): never counts.
    p.event("ahead", "transaction_completed", T - 10 * D, amount=40)
    p.event("ahead", "transaction_completed", T + 3 * 3600 * S, amount=40,
            received=T - 20 * 3600 * S)  # fmt: skip


ALL_TIME = {
    "count_all": {"owner": "t", "description": "d", "event": "transaction_completed",
                  "aggregate": "count"},
    "sum_all": {"owner": "t", "description": "d", "event": "transaction_completed",
                "aggregate": "sum", "property": "amount"},
}  # fmt: skip


def extended() -> Definitions:
    """The shipped definitions and all-time count and sum traits (the shipped ones are last_at,
    most_frequent and unique_list)."""
    shipped = load_definitions().model_dump(by_alias=True, exclude_none=True)
    return parse_definitions({**shipped, "traits": {**shipped["traits"], **ALL_TIME}})


def _sessions(p: Population, name: str, days: list[int], **kwargs: Any) -> None:
    for day in days:
        p.event(name, None, T - day * D, **kwargs)


def _churn(p: Population) -> None:
    names = ["cr_yes", "cr_two", "cr_gap30", "cr_gap31", "cr_server", "cr_txn",
             "cr_recent_yes", "cr_recent_no"]  # fmt: skip
    for name in names:
        p.person(name)
    _sessions(p, "cr_yes", [10, 15], cold=True, device=0)  # anonymous, cold, same person
    _sessions(p, "cr_yes", [20])
    p.event("cr_yes", "transaction_completed", T - 25 * D, amount=600, source="backend")
    _sessions(p, "cr_two", [10, 20])
    for name, gap in (("cr_gap30", 30 * 60 * S), ("cr_gap31", 30 * 60 * S + S)):
        _sessions(p, name, [15])
        p.event(name, None, T - 20 * D)
        p.event(name, None, T - 20 * D + gap)  # 30 min: the same session; 30 min 1 s: a new one
    _sessions(p, "cr_server", [10, 20])
    p.event("cr_server", "kyc_approved", T - 15 * D, source="backend")  # server: no session
    p.event("cr_server", "Audience Entered", T - 12 * D, source="audiences")  # ours: nothing
    _sessions(p, "cr_txn", [10, 15, 20])
    p.event("cr_txn", "transaction_completed", T - 20 * D - 3 * 60 * 60 * S, source="backend")
    _sessions(p, "cr_recent_yes", [1, *range(8, 35, 3)])  # 1 recent, 9 prior: 1/7 < 0.5 x 9/30
    _sessions(p, "cr_recent_no", [1, *range(8, 32, 3)])  # 1 recent, 8 prior: 1/7 > 0.5 x 8/30
    # Three sessions before, none since: identifies of a SQL source and of ours start none.
    p.person("cr_sql")
    _sessions(p, "cr_sql", [10, 15, 20])
    p.event("cr_sql", None, T - 2 * D, source="sql-balances")
    p.event("cr_sql", None, T - 3 * D, source="audiences")


@dataclass
class Answers:
    population: Population
    expected: dict[str, set[str]]
    rows: dict[str, list[dict[str, Any]]]  # query name → rows

    def by_person(self, query: str) -> dict[str, dict[str, Any]]:
        prefix = f"{self.population.run}-p-"
        return {
            r["profile_id"].removeprefix(prefix): r
            for r in self.rows[query]
            if r["profile_id"].startswith(prefix)
        }

    def members(self, query: str, audience: str) -> set[str]:
        return {n for n, r in self.by_person(query).items() if r[f"a_{audience}"]}


def redefine(defs: Definitions) -> Definitions:
    data = defs.model_dump(by_alias=True, exclude_none=True)
    methods = {**data["traits"]["transaction_methods"], "property": "type"}
    return parse_definitions({**data, "traits": {**data["traits"], "transaction_methods": methods}})


def users(p: Population) -> list[dict[str, Any]]:
    at = (T - 100 * D).isoformat()
    return [
        {"user_id": f"{p.run}-u-{name}", "traits": to_json(traits), "first_seen_at": at,
         "updated_at": at, "refreshed_at": at}
        for name, traits in (("ac_3", {"plan": "pro", "age": 41}), ("ac_2", {"plan": "free"}))
    ]  # fmt: skip
