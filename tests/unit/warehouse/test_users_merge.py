"""The users merge rule, case by case, and what the job sends to BigQuery (the SQL itself runs
on the emulator: tests/integration/test_warehouse_users.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings
from shared.warehouse.users import DEFAULT_DAYS, Identify, merge_traits, refresh_users

T0 = datetime.fromisoformat("2026-11-20T10:00:00+00:00")
HOUR = timedelta(hours=1)


def ident(message_id: str, at: int, traits: dict[str, Any] | None, got: int = 0) -> Identify:
    """An identify at T0 + ``at`` hours, received ``got`` hours after T0 + 1 day."""
    return Identify(message_id, T0 + at * HOUR, T0 + timedelta(days=1) + got * HOUR, traits)


SIGNUP = {"email": "a@x.io", "first_name": "Ann", "plan": "free"}
CASES: list[tuple[str, list[Identify], dict[str, Any]]] = [
    ("no identify", [], {}),
    ("no traits", [ident("m1", 0, None), ident("m2", 1, {})], {}),
    (
        "a partial identify keeps what it left out",
        [ident("m1", 0, SIGNUP), ident("m2", 1, {"email": "b@x.io"})],
        {**SIGNUP, "email": "b@x.io"},
    ),
    (
        "event time decides, not the order of arrival",
        [ident("m2", 1, {"plan": "pro"}), ident("m1", 0, SIGNUP)],
        {**SIGNUP, "plan": "pro"},
    ),
    (
        "a late older identify only adds keys nobody sent since",
        [ident("m1", 1, SIGNUP), ident("m0", 0, {"plan": "trial", "company": "Acme"}, got=5)],
        {**SIGNUP, "company": "Acme"},
    ),
    (
        "same event time: the later received wins",
        [ident("m1", 0, {"plan": "a"}, got=2), ident("m2", 0, {"plan": "b"}, got=1)],
        {"plan": "a"},
    ),
    (
        "same event and receive time: the greater message id wins",
        [ident("m9", 0, {"plan": "a"}), ident("m10", 0, {"plan": "b"})],
        {"plan": "a"},
    ),
    (
        "an explicit null clears the trait, and the key stays",
        [ident("m1", 0, SIGNUP), ident("m2", 1, {"plan": None})],
        {**SIGNUP, "plan": None},
    ),
    (
        "a nested object is one value, replaced whole",
        [ident("m1", 0, {"address": {"city": "Paris"}}), ident("m2", 1, {"address": {"zip": "1"}})],
        {"address": {"zip": "1"}},
    ),
    (
        "keys with dots are keys, not paths",
        [ident("m1", 0, {"utm.source": "news", "utm": {"source": "ad"}})],
        {"utm.source": "news", "utm": {"source": "ad"}},
    ),
]


@pytest.mark.parametrize(
    ("identifies", "merged"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_merge_traits(identifies: list[Identify], merged: dict[str, Any]) -> None:
    assert merge_traits(identifies) == merged
    assert merge_traits(reversed(identifies)) == merged  # the input order never matters


class RecordingSql(SqlRunner):
    """Answers the count query and records every statement with its parameters."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.calls.append((sql, dict(params or {})))
        return [{"users": self.count}] if sql.startswith("SELECT COUNT") else []


def test_the_job_merges_the_recent_identifies_into_users_then_counts() -> None:
    sql = RecordingSql(count=3)
    settings = Settings(project_id="p", dataset_prefix="cdp")
    assert refresh_users(settings, sql) == 3
    (merge, params), (count, _) = sql.calls
    assert params == {"days": DEFAULT_DAYS}
    assert merge.lstrip().startswith("MERGE `p.cdp_processed.users` AS u")
    assert "FROM `p.cdp_processed.identifies`" in merge
    assert "{" not in merge.replace("'{'", "").replace("'{}'", "")  # every placeholder filled
    assert count == "SELECT COUNT(*) AS users FROM `p.cdp_processed.users`"
