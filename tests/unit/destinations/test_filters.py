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
