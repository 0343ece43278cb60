"""Slack templates with a condition: the churn-risk alert for high-value members only, as a
table of events and what each one gets (a message, or skipped with the reason), the setting's
two forms from the environment, and the round trip through the runner to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.adapters.http import HttpxSender
from shared.destinations.framework import NOBODY, Person
from shared.destinations.runner import Runner
from shared.destinations.slack import NO_TEMPLATE, SlackSettings, SlackTransform
from shared.destinations.slack_templates import SlackTemplate, unmet
from shared.envelope import Envelope
from shared.local.standins.slack import LOCAL_TEMPLATES, SlackStandIn, function_environment
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher

URL = "https://hooks.slack.com/services/T1/B1/secret"
ALERT = {"text": "{userId} is at churn risk ({properties.transaction_volume_30d})",
         "when": {"event": "Audience Entered", "properties.high_value": True}}  # fmt: skip
TEMPLATES: dict[str, Any] = {
    "churn_risk": ALERT,
    "direct_deposit": "{userId} {event} direct deposit",  # the string form: no condition
    "Order Completed": {"text": "order {properties.plan}",
                        "when": {"properties.plan": ["gold", "silver"], "traits.country": "PT"}},
}  # fmt: skip


def transform(templates: dict[str, Any] = TEMPLATES) -> SlackTransform:
    settings = SlackSettings(webhook_url=URL, templates=templates)
    return SlackTransform(settings, FakeClock(datetime(2026, 11, 22, tzinfo=UTC)))


def audience(name: str, key: str, mid: str = "m1", **properties: Any) -> dict[str, Any]:
    props = {"audience_key": key, "audience_name": key.replace("_", " "), **properties}
    return {"type": "track", "event": name, "messageId": mid, "userId": "u1", "properties": props}


def order(plan: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "messageId": "m1", "userId": "u1",
            "properties": {"plan": plan}}  # fmt: skip


ENTERED = "Audience Entered"
PT = Person("p1", traits={"country": "PT"})
NOT_MET = "the 'churn_risk' template is for "
CASES: list[tuple[str, dict[str, Any], Person, str, str]] = [
    # (case, event, person, "sent" | "skipped", the message text or the reason)
    ("a high-value member entering: alerted",
     audience(ENTERED, "churn_risk", high_value=True, transaction_volume_30d=812.5), NOBODY,
     "sent", "u1 is at churn risk (812.5)"),
    ("a member below the threshold: skipped, not an error",
     audience(ENTERED, "churn_risk", high_value=False, transaction_volume_30d=20), NOBODY,
     "skipped", NOT_MET + "properties.high_value = true; this event's is false"),
    ("no high_value at all (an audience without a threshold): skipped",
     audience(ENTERED, "churn_risk"), NOBODY,
     "skipped", NOT_MET + "properties.high_value = true; this event's is absent"),
    ("a truthy non-boolean is not true", audience(ENTERED, "churn_risk", high_value=1), NOBODY,
     "skipped", NOT_MET + "properties.high_value = true; this event's is 1"),
    ("the string true is not true", audience(ENTERED, "churn_risk", high_value="true"), NOBODY,
     "skipped", NOT_MET + "properties.high_value = true; this event's is \"true\""),
    ("a high-value member leaving: the alert is for entries only",
     audience("Audience Exited", "churn_risk", high_value=True), NOBODY,
     "skipped", NOT_MET + "event = \"Audience Entered\"; this event's is \"Audience Exited\""),
    ("the string form still works, both transitions",
     audience("Audience Exited", "direct_deposit"), NOBODY,
     "sent", "u1 Audience Exited direct deposit"),
    ("an audience without a template: skipped as before", audience(ENTERED, "active_core"),
     NOBODY, "skipped", NO_TEMPLATE.format(what="active_core")),
    ("one of a list of values, and a profile trait", order("silver"), PT, "sent", "order silver"),
    ("a value outside the list", order("bronze"), PT, "skipped",
     "the 'Order Completed' template is for properties.plan = [\"gold\", \"silver\"]; "
     "this event's is \"bronze\""),
    ("the profile's trait decides too", order("gold"), Person("p1", traits={"country": "ES"}),
     "skipped", "the 'Order Completed' template is for traits.country = \"PT\"; "
     "this event's is \"ES\""),
    ("the event's own traits win over the profile's",
     {**order("gold"), "context": {"traits": {"country": "PT"}}},
     Person("p1", traits={"country": "ES"}), "sent", "order gold"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "person", "kind", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_conditions(event: dict[str, Any], person: Person, kind: str, expected: str) -> None:
    prepared = transform().prepare([event], [person])
    assert prepared.refused == {}
    if kind == "sent":
        [request] = prepared.requests
        assert (json.loads(request.body)["text"], prepared.skipped) == (expected, {})
    else:
        assert (prepared.requests, prepared.skipped) == ([], {"m1": expected})


@pytest.mark.parametrize(
    ("when", "event", "met"),
    [({"profileId": "p1"}, {}, True), ({"profileId": "p2"}, {}, False),
     ({"properties.a.b": 2}, {"properties": {"a": {"b": 2}}}, True),
     ({"properties.a.b": 2}, {"properties": {"a": 2}}, False),
     ({"properties.a": None}, {"properties": {"a": None}}, True),
     ({"properties.a": None}, {"properties": {}}, False),  # absent is not null
     ({"properties.n": 2}, {"properties": {"n": 2.0}}, True),  # JSON numbers
     ({"properties.n": False}, {"properties": {"n": 0}}, False),
     ({"userId": ["u1", "u2"]}, {"userId": "u2"}, True),
     ({}, {}, True)],
)  # fmt: skip
def test_field_lookups(when: dict[str, Any], event: dict[str, Any], met: bool) -> None:
    template = SlackTemplate(text="x", when=when)
    assert (unmet("k", template, event, Person("p1")) == "") is met


def test_both_forms_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_SLACK_TEMPLATES", json.dumps(TEMPLATES))
    found = SlackSettings().templates
    assert found["direct_deposit"] == "{userId} {event} direct deposit"
    assert found["churn_risk"] == SlackTemplate(text=ALERT["text"], when=ALERT["when"])
    assert SlackSettings().events == [*TEMPLATES, "Audience Entered", "Audience Exited"]


@pytest.mark.parametrize(
    "bad",
    [{"k": {"when": {"x": 1}}},  # no text
     {"k": {"text": "t", "if": {"x": 1}}},  # an unknown field
     {"k": {"text": "t", "when": {"properties.": 1}}},  # not a field name
     {"k": {"text": "t", "when": {"x": {"op": "gt"}}}}],  # values only, no operators
)  # fmt: skip
def test_a_malformed_template_is_refused_at_start(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SlackSettings(templates=bad)


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn()
    server.start()
    yield server
    server.stop()


def test_the_local_alert_reaches_the_standin_for_high_value_entries_only(
    standin: SlackStandIn,
) -> None:
    env = function_environment(standin.url)
    assert json.loads(env["CDP_SLACK_TEMPLATES"]) == LOCAL_TEMPLATES
    settings = SlackSettings(webhook_url=env["CDP_SLACK_WEBHOOK_URL"],
                             templates=json.loads(env["CDP_SLACK_TEMPLATES"]))  # fmt: skip
    clock = FakeClock(datetime(2026, 11, 22, tzinfo=UTC))
    runner = Runner(SlackTransform(settings, clock), http=HttpxSender(), clock=clock,
                    publisher=InMemoryPublisher(), documents=InMemoryDocumentStore(),
                    sleep=lambda _: None)  # fmt: skip
    events = [audience(ENTERED, "churn_risk", "rich", high_value=True, transaction_volume_30d=900),
              audience(ENTERED, "churn_risk", "poor", high_value=False),
              audience("Audience Exited", "churn_risk", "left", high_value=True),
              audience(ENTERED, "direct_deposit", "other")]  # fmt: skip
    meta = {"people": {}, "profile_of": [None] * len(events), "source_message": "s1"}
    done = runner.handle(Envelope("events", events, {"kind": "events"}, "ps-1", meta=meta))
    assert (done.delivered, set(done.skipped), done.refused) == (
        {"rich"},
        {"poor", "left", "other"},
        {},
    )
    assert standin.keys() == ["rich"] and "u1" in standin.texts()[0]
    assert (
        runner.handle(Envelope("events", events, {"kind": "events"}, "ps-1", meta=meta)).already
        == 1
    )
    assert standin.keys() == ["rich"]  # the ledger: a redelivery sends nothing again
