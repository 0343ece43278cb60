"""A destination's event filter: call types, track names and consent, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from shared.destinations.filters import EventFilter
from shared.destinations.framework import NOBODY, Person


def track(name: str, **consent: bool) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "track", "event": name, "userId": "u1"}
    if consent:
        event["context"] = {"consent": {"categoryPreferences": consent}}
    return event


IDENTIFY = {"type": "identify", "userId": "u1"}
PAGE = {"type": "page", "anonymousId": "a1"}

CASES = [
    # (filter, event, taken)
    (EventFilter.of(), track("kyc_started"), True),
    (EventFilter.of(), IDENTIFY, True),
    (EventFilter.of(types=["track"]), track("kyc_started"), True),
    (EventFilter.of(types=["track"]), IDENTIFY, False),
    (EventFilter.of(types=["track"]), PAGE, False),
    (EventFilter.of(types=["identify", "page"]), PAGE, True),
    (EventFilter.of(events=["kyc_started"]), track("kyc_started"), True),
    (EventFilter.of(events=["kyc_started"]), track("card_activated"), False),
    (EventFilter.of(events=["kyc_started"]), IDENTIFY, True),  # names only narrow tracks
    (EventFilter.of(types=["track"], events=["a"]), track("b"), False),
    (EventFilter.of(consent_category="marketing"), track("x"), True),  # silence is not refusal
    (EventFilter.of(consent_category="marketing"), track("x", marketing=True), True),
    (EventFilter.of(consent_category="marketing"), track("x", marketing=False), False),
    (EventFilter.of(consent_category="marketing"), track("x", analytics=False), True),
    (EventFilter.of(consent_category="ads"), {**PAGE, "context": "not an object"}, True),
    (EventFilter.of(consent_category="ads"),
     {**PAGE, "context": {"consent": {"categoryPreferences": {"ads": "no"}}}}, True),
    (EventFilter.of(types=["track"], consent_category="ads"), track("x", ads=False), False),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "event", "taken"), CASES)
def test_filter(rule: EventFilter, event: dict[str, Any], taken: bool) -> None:
    assert rule.admits(event, NOBODY) is taken


@pytest.mark.parametrize(
    ("category", "consent", "taken"),
    [("", {"marketing": False}, True), ("marketing", {}, True),
     ("marketing", {"marketing": True}, True), ("marketing", {"marketing": False}, False),
     ("marketing", {"analytics": False}, True), ("marketing", {"marketing": "no"}, True)],
)  # fmt: skip
def test_a_persons_consent(category: str, consent: dict[str, Any], taken: bool) -> None:
    rule = EventFilter.of(consent_category=category)
    assert rule.admits(track("x"), Person(consent=consent)) is taken


def audience(name: str, key: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": "u1", "properties": {"audience_key": key}}


ENTERED, EXITED = (
    audience("Audience Entered", "churn_risk"),
    audience("Audience Exited", "churn_risk"),
)
OTHER = audience("Audience Entered", "direct_deposit")
AUDIENCE_IDENTIFY = {"type": "identify", "userId": "u1", "traits": {"churn_risk": True}}


def job_identify(**traits: Any) -> dict[str, Any]:
    """An identify as the audiences job emits it (its source, ``<key>: true|false``)."""
    return {**AUDIENCE_IDENTIFY, "sourceId": "audiences", "traits": traits}


CHURN_EXIT = job_identify(churn_risk=False)

SUBSCRIPTIONS = [
    # (filter, event, taken): subscribing to audiences by CDP_<NAME>_EVENTS / _AUDIENCES
    (EventFilter.of(events=["churn_risk"]), ENTERED, True),  # a key takes both transitions
    (EventFilter.of(events=["churn_risk"]), EXITED, True),
    (EventFilter.of(events=["churn_risk"]), OTHER, False),  # not another audience's
    (EventFilter.of(events=["churn_risk"]), track("churn_risk"), True),  # the name itself
    (EventFilter.of(events=["churn_risk"]), audience("Signed Up", "churn_risk"), False),
    (EventFilter.of(events=["churn_risk"]), audience("Audience Entered", None), False),
    (EventFilter.of(events=["churn_risk"]), audience("Audience Entered", ["churn_risk"]), False),
    (EventFilter.of(events=["churn_risk"]), AUDIENCE_IDENTIFY, True),  # names narrow tracks only
    (EventFilter.of(events=["Audience Entered"]), OTHER, True),  # every audience's entries
    (EventFilter.of(events=["Audience Entered"]), EXITED, False),
    (EventFilter.of(events=["Audience Entered", "Audience Exited"]), EXITED, True),
    (EventFilter.of(types=["identify"], events=["churn_risk"]), ENTERED, False),
    (EventFilter.of(), OTHER, True),  # no list: every track, audience events included
    # CDP_<NAME>_AUDIENCES: the audience events taken are exactly those keys'
    (EventFilter.of(audiences=["direct_deposit"]), OTHER, True),
    (EventFilter.of(audiences=["direct_deposit"]), ENTERED, False),
    (EventFilter.of(audiences=["direct_deposit"]), track("kyc_started"), True),  # others stay
    (EventFilter.of(audiences=["direct_deposit"]), AUDIENCE_IDENTIFY, True),
    (EventFilter.of(events=["Audience Entered"], audiences=["direct_deposit"]), ENTERED, False),
    (EventFilter.of(events=["kyc_started"], audiences=["direct_deposit"]), OTHER, True),
    (EventFilter.of(audiences=[]), OTHER, False),  # [] takes no audience event
    (EventFilter.of(types=["identify"], audiences=["direct_deposit"]), OTHER, False),
    # ... and the job's identifies: one goes only where its audience key is listed
    (EventFilter.of(audiences=["direct_deposit"]), CHURN_EXIT, False),
    (EventFilter.of(audiences=["direct_deposit"]), job_identify(churn_risk=True), False),
    (EventFilter.of(audiences=["direct_deposit"]), job_identify(direct_deposit=False), True),
    (EventFilter.of(audiences=["churn_risk", "direct_deposit"]), CHURN_EXIT, True),
    (EventFilter.of(audiences=[]), CHURN_EXIT, False),
    (EventFilter.of(), CHURN_EXIT, True),  # unset: every identify
    (EventFilter.of(events=["direct_deposit"]), CHURN_EXIT, True),  # names narrow tracks only
    (EventFilter.of(audiences=["direct_deposit"]),  # one listed key is enough
     job_identify(churn_risk=True, direct_deposit=True), True),
    (EventFilter.of(audiences=["direct_deposit"]),  # other traits: not the job's shape
     job_identify(churn_risk=True, plan="gold"), True),
    (EventFilter.of(audiences=["direct_deposit"]), job_identify(), True),  # sets nothing
    (EventFilter.of(audiences=["direct_deposit"]),  # another source's identify: unaffected
     {**CHURN_EXIT, "sourceId": "ios-app"}, True),
    (EventFilter.of(audiences=["direct_deposit"]), {**CHURN_EXIT, "traits": None}, True),
    (EventFilter.of(types=["track"], audiences=["churn_risk"]), CHURN_EXIT, False),  # types
]  # fmt: skip


@pytest.mark.parametrize(("rule", "event", "taken"), SUBSCRIPTIONS)
def test_audience_subscriptions(rule: EventFilter, event: dict[str, Any], taken: bool) -> None:
    assert rule.admits(event, NOBODY) is taken


def test_audiences_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.destinations.meta import MetaSettings

    monkeypatch.setenv("CDP_META_AUDIENCES", "direct_deposit, churn_risk")
    assert MetaSettings().audiences == ["direct_deposit", "churn_risk"]
    monkeypatch.delenv("CDP_META_AUDIENCES")
    assert MetaSettings().audiences is None
