"""The independent recomputation the job is compared with (tests/audience_oracle.py), on small
hand-built histories at the edges of the semantics: windows open at the far end and closed at
as_of, "more than 7 days" strict, exactly 3 transactions, a 30-minute gap, a session counted
where it starts, a person split over two devices and merged later, duplicates and the
audiences' own events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from tests import audience_oracle as oracle

AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS = {"web": "web", "ios": "ios", "backend": "server", "audiences": "internal"}
SECOND, MINUTE, DAY = timedelta(seconds=1), timedelta(minutes=1), timedelta(days=1)
_ids = count()


def ev(
    ago: timedelta,
    event: str | None = None,
    *,
    source: str = "web",
    user: str | None = "u1",
    anon: str | None = None,
    call: str = "track",
    **properties: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": call,
        "messageId": f"m{next(_ids)}",
        "sourceId": source,
        "timestamp": (AS_OF - ago).isoformat().replace("+00:00", "Z"),
        "properties": properties,
    }
    if event is not None:
        payload["event"] = event
    if user:
        payload["userId"] = user
    if anon:
        payload["anonymousId"] = anon
    return payload


def stages(*payloads: dict[str, Any], as_of: datetime = AS_OF) -> dict[str, int]:
    found = oracle.memberships(oracle.events_of(payloads, KINDS), as_of)
    return {key: len(people) for key, people in found.items() if people}


def paid(ago: timedelta, amount: float = 100.0, **kw: Any) -> dict[str, Any]:
    return ev(ago, "transaction_completed", source="backend", amount=amount, type="card", **kw)


def visits(*days_ago: float, user: str = "u1") -> list[dict[str, Any]]:
    return [ev(d * DAY, call="page", user=user) for d in days_ago]


@pytest.mark.parametrize(
    ("ago", "member"),
    [(7 * DAY, False), (7 * DAY + SECOND, True), (6 * DAY, False), (400 * DAY, True)],
)
def test_activated_incomplete_needs_an_account_strictly_more_than_7_days_old(
    ago: timedelta, member: bool
) -> None:
    assert ("activated_incomplete" in stages(ev(ago, "account_created"))) is member
    linked = stages(ev(ago, "account_created"), ev(DAY * 60, "bank_account_linked"))
    assert "activated_incomplete" not in linked  # linked at any time


@pytest.mark.parametrize(
    ("initiated", "member"),
    [(None, True), (30 * DAY, True), (30 * DAY - SECOND, False), (-MINUTE, True)],
)
def test_funded_dormant_a_bank_and_nothing_initiated_within_30_days(
    initiated: timedelta | None, member: bool
) -> None:
    history = [ev(40 * DAY, "bank_account_linked")]
    if initiated is not None:  # -1 minute: after as_of, it never counts
        history.append(ev(initiated, "transaction_initiated", source="backend"))
    assert ("funded_dormant" in stages(*history)) is member


@pytest.mark.parametrize(
    ("agos", "member"),
    [
        ((DAY, 2 * DAY, 3 * DAY), True),  # exactly 3
        ((DAY, 2 * DAY), False),
        ((DAY, 2 * DAY, 30 * DAY), False),  # exactly 30 days ago is outside
        ((DAY, 2 * DAY, 30 * DAY - SECOND), True),
        ((DAY, 2 * DAY, -SECOND), False),  # after as_of
    ],
)
def test_active_core_at_least_3_completed_within_30_days(
    agos: tuple[timedelta, ...], member: bool
) -> None:
    assert ("active_core" in stages(*[paid(a) for a in agos])) is member


def test_direct_deposit_is_for_good() -> None:
    assert stages(ev(900 * DAY, "direct_deposit_enabled", source="backend")) == {
        "direct_deposit": 1
    }


def test_churn_risk_three_earlier_sessions_none_lately_nothing_paid_for_21_days() -> None:
    base = visits(8, 15, 36.9)
    assert "churn_risk" in stages(*base)
    assert "churn_risk" not in stages(*visits(8, 15))  # two sessions before: below the minimum
    assert "churn_risk" not in stages(*visits(8, 15, 37))  # 37 days ago: outside the 30 before
    assert "churn_risk" not in stages(*base, paid(20 * DAY))
    assert "churn_risk" in stages(*base, paid(21 * DAY))  # exactly 21 days: outside
    assert "churn_risk" not in stages(*base, *visits(1))  # 1/7 a day is not below 0.5 x 3/30
    nine, eight = visits(*range(8, 17)), visits(*range(8, 16))
    assert "churn_risk" in stages(*nine, *visits(2))  # 1/7 < 0.5 x 9/30
    assert "churn_risk" not in stages(*eight, *visits(2))  # 1/7 >= 0.5 x 8/30
    assert stages(*base, as_of=AS_OF - 10 * DAY) == {}  # as of then: sessions lately, few before


def test_sessions_split_on_gaps_over_30_minutes_and_count_where_they_start() -> None:
    def starts(*minutes_ago: float) -> int:
        events = oracle.events_of([ev(m * MINUTE, call="page") for m in minutes_ago], KINDS)
        return len(oracle.session_starts(events, AS_OF))

    assert starts(90, 60, 30, 0) == 1  # exactly 30 minutes: the same session
    assert starts(90.02, 60, 30, 0) == 2
    # A session from 7 days and 10 minutes back into the last week belongs to the 30 before.
    crossing = [ev(7 * DAY + m * MINUTE, call="page") for m in (10, -10, -30)]
    assert "churn_risk" in stages(*crossing, *visits(10, 20))


def test_the_backend_and_the_platforms_own_events_are_no_sessions() -> None:
    base = visits(8, 15, 20)
    server = ev(DAY, "kyc_approved", source="backend")
    ours = ev(DAY, "Audience Entered", source="audiences")
    sql = ev(DAY, call="identify", source="sql-crm")
    assert "churn_risk" in stages(*base, server, ours, sql)
    assert stages(ours) == stages(sql) == {}  # nor any other condition


def test_a_person_on_two_devices_merged_later_counts_as_one() -> None:
    history = [
        paid(3 * DAY, user=None, anon="phone"),  # before sign-in, on each device
        ev(2 * DAY, call="page", user=None, anon="laptop"),
        paid(2 * DAY, user=None, anon="laptop"),
        ev(DAY, call="identify", user="u9", anon="phone"),
        ev(DAY, call="identify", user="u9", anon="tablet"),
        {**ev(DAY, call="alias", user="u9"), "previousId": "laptop"},
        paid(DAY, user="u9"),
    ]
    events = oracle.events_of(history, KINDS)
    [person] = oracle.histories(events)
    assert person == oracle.Person(frozenset({"u9"}), frozenset({"phone", "laptop", "tablet"}))
    assert oracle.memberships(events, AS_OF)["active_core"] == {person}
    assert "active_core" not in stages(*history[:3])  # apart, no one has three


def test_a_duplicate_counts_once() -> None:
    twice = [paid(DAY), paid(2 * DAY)]
    assert "active_core" not in stages(*twice, {**twice[0]})
    assert "active_core" in stages(*twice, paid(3 * DAY))


def test_computed_traits() -> None:
    history = [
        paid(DAY, 250.5, method="pos"),
        paid(2 * DAY, 300.0, method="ach"),
        ev(3 * DAY, "transaction_completed", source="backend", amount=7, type="deposit"),
        ev(31 * DAY, "transaction_completed", source="backend", amount=1000, type="deposit"),
        ev(40 * DAY, "account_created"),
    ]
    [(_, events)] = oracle.histories(oracle.events_of(history, KINDS)).items()
    traits = oracle.traits(events, AS_OF)
    assert traits == {
        "transaction_volume_30d": 557.5,
        "transactions_30d": 3,
        "last_transaction_at": AS_OF - DAY,
        "favourite_transaction_type": "card",  # 2 card, 2 deposit: the tie to the smaller
        "transaction_methods": ["ach", "pos"],
        "account_created_at": AS_OF - 40 * DAY,
    }
    assert oracle.high_value(events, AS_OF)
    assert not oracle.high_value(events, AS_OF + 28.5 * DAY)  # by then only the 250.50 left
    assert set(oracle.traits([], AS_OF).values()) == {None}
