"""The demo's calls as its SDK clients receive them (a recording fake client, no HTTP): the
context each source's real SDK would add, the ids the destinations need, the same journeys for
a seed every time (the figures in the README come from seed 7), and members in each of the five
lifecycle stages as the independent recomputation (tests/audience_oracle.py) finds them, for
hours after the demo."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.local.demo import DemoReport, run_demo
from tests import audience_oracle as oracle

STACK = {"ingest_url": "http://demo.invalid", "write_keys": {s: s for s in
         ("web", "ios", "android", "backend")}}  # fmt: skip
HEX32 = re.compile(r"^[0-9a-f]{32}$")
KINDS = {"web": "web", "ios": "ios", "android": "android", "backend": "server"}
FIELDS = {"user_id": "userId", "anonymous_id": "anonymousId", "previous_id": "previousId"}


class Recorder:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def __init__(self, source: str) -> None:
        self.source = source

    def __getattr__(self, call: str) -> Any:
        return lambda **kwargs: Recorder.calls.append((self.source, call, kwargs))

    def flush(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


def demo(seed: int = 7, visitors: int = 40) -> tuple[DemoReport, list[tuple[str, str, Any]]]:
    Recorder.calls = []
    report = run_demo(STACK, visitors, seed, client=lambda key, _host, _report: Recorder(key))
    return report, Recorder.calls


def test_the_journeys_of_a_seed_are_what_they_were() -> None:
    report, calls = demo()
    assert report.sent == Counter(page=85, track=131, identify=17, screen=12, alias=11)
    assert (report.users, report.anonymous_visitors, len(calls)) == (11, 40, 256)
    again = [(s, c, {k: v for k, v in kw.items() if k != "timestamp"}) for s, c, kw in demo()[1]]
    assert again == [(s, c, {k: v for k, v in kw.items() if k != "timestamp"})
                     for s, c, kw in calls]  # fmt: skip


def test_each_source_sends_the_context_its_sdk_would() -> None:
    _, calls = demo(seed=11, visitors=60)
    assert {s for s, _, _ in calls} == {"web", "ios", "android", "backend"}
    for source, call, kwargs in calls:
        context = kwargs.get("context") or {}
        if source == "web":
            assert context["userAgent"].startswith("Mozilla/5.0"), call
            assert context["page"]["url"].startswith("https://app.example.com/"), call
        elif source == "backend":
            assert context == {} and kwargs.get("anonymous_id") is None
        else:
            assert context["device"]["type"] == source and kwargs["anonymous_id"]
            assert {"app", "os", "screen"} <= set(context)
            ids = {x["type"]: x["id"] for x in context["externalIds"]}
            assert ids["appsflyer_id"] and HEX32.match(ids["app_instance_id"])
            if context["device"]["adTrackingEnabled"]:
                assert context["device"]["advertisingId"] != context["device"]["id"]
            else:
                assert "advertisingId" not in context["device"]


def test_people_of_two_seeds_share_no_email() -> None:
    def emails(seed: int) -> set[str]:
        return {kw["traits"]["email"] for _, c, kw in demo(seed)[1] if c == "identify"}

    assert emails(7) and not emails(7) & emails(8)


def stored(calls: list[tuple[str, str, dict[str, Any]]]) -> list[oracle.Event]:
    """The calls as the warehouse would store them (ingest adds the messageId and sourceId)."""
    payloads = [
        {"type": call, "messageId": f"m{n}", "sourceId": source,
         **{FIELDS.get(k, k): v for k, v in kwargs.items() if k != "context"}}
        for n, (source, call, kwargs) in enumerate(calls)
    ]  # fmt: skip
    return oracle.events_of(payloads, KINDS)


@pytest.mark.parametrize(("seed", "visitors"), [(7, 40), (23, 15), (31, 30), (11, 60)])
def test_every_stage_has_members_for_hours_after_the_demo(seed: int, visitors: int) -> None:
    started = datetime.now(UTC)
    _, calls = demo(seed, visitors)
    events = stored(calls)
    found = [oracle.memberships(events, started + timedelta(hours=h)) for h in (0, 1, 6)]
    assert found[0] == found[1] == found[2]  # nothing is near an edge
    assert all(found[0][stage] for stage in oracle.STAGES), found[0]
    people = oracle.histories(events)
    users = {p for p in people if p.user_ids}
    assert all(len(p.user_ids) == 1 for p in users)  # one person each, however many devices
    member = set().union(*found[0].values())
    assert member <= users and people.keys() - member  # anonymous visitors are in none


def test_churn_risk_holds_high_value_members_and_others_and_users_in_no_stage() -> None:
    started = datetime.now(UTC)
    _, calls = demo()  # what `cdp dev` sends
    events, as_of = stored(calls), started + timedelta(minutes=5)
    people = oracle.histories(events)
    churn = [people[p] for p in oracle.memberships(events, as_of)["churn_risk"]]
    assert {oracle.high_value(h, as_of) for h in churn} == {True, False}
    for history in churn:  # the 30-day volume comes from 22 to 29 days back
        paid = oracle.named(history, "transaction_completed", as_of, 30)
        assert not paid or all(as_of - e.timestamp > timedelta(days=21.5) for e in paid)
    idle = [p for p, h in people.items() if p.user_ids and not oracle.stages(h, as_of)]
    assert idle


def test_no_moment_of_a_person_who_signed_up_is_near_a_stage_edge() -> None:
    for seed in (7, 8, 23, 99):
        started = datetime.now(UTC)
        _, calls = demo(seed, 60)
        for person, history in oracle.histories(stored(calls)).items():
            if not person.user_ids:
                continue
            for e in history:
                days = (started - e.timestamp) / timedelta(days=1)
                assert all(abs(days - edge) > 0.3 for edge in (7, 21, 30, 37)), (seed, e)
