"""Slack incoming webhook: templates as tables (safe, never crashing), the message's limits,
Slack's text errors in the verdict, and a round trip through the real sender to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Person, Request
from shared.destinations.slack import (
    AUDIENCE_EVENTS,
    EMPTY_MESSAGE,
    MAX_SECTION,
    MAX_TEXT,
    MESSAGE_ID_HEADER,
    NO_TEMPLATE,
    SlackSettings,
    SlackTransform,
    message,
    render,
)
from shared.local.standins import slack as standin_module
from shared.local.standins.slack import SlackStandIn, function_environment
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

URL = "https://hooks.slack.com/services/T1/B1/secret"
TEMPLATES = {
    "subscription_cancelled": "*{userId}* cancelled ({properties.reason})",
    "churn_risk": ":warning: {traits.first_name} {event} churn risk",
    "Audience Entered": "{userId} entered {properties.audience_key}",
}


def transform(**overrides: Any) -> SlackTransform:
    settings = SlackSettings(webhook_url=URL, templates=TEMPLATES).model_copy(update=overrides)
    return SlackTransform(settings, FakeClock(datetime(2026, 11, 22, tzinfo=UTC)))


def track(name: str, mid: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "messageId": mid, "userId": "u1", **extra}


RENDERED: list[tuple[str, dict[str, Any], Person, str]] = [
    ("a named event", track("subscription_cancelled", properties={"reason": "fees"}), NOBODY,
     "*u1* cancelled (fees)"),
    ("an audience's own template, traits from the profile",
     track("Audience Entered", properties={"audience_key": "churn_risk"}),
     Person("p1", traits={"first_name": "Ann"}), ":warning: Ann Audience Entered churn risk"),
    ("an audience without its own template: the audience event's",
     track("Audience Entered", properties={"audience_key": "dormant"}), NOBODY,
     "u1 entered dormant"),
    ("a missing placeholder renders empty", track("subscription_cancelled"), NOBODY,
     "*u1* cancelled ()"),
    ("event values are escaped: no <!channel> or links from data",
     track("subscription_cancelled", properties={"reason": "<!channel> & <http://x|y>"}), NOBODY,
     "*u1* cancelled (&lt;!channel&gt; &amp; &lt;http://x|y&gt;)"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "person", "text"), [c[1:] for c in RENDERED],
                         ids=[c[0] for c in RENDERED])  # fmt: skip
def test_messages(event: dict[str, Any], person: Person, text: str) -> None:
    [request] = transform().prepare([event], [person]).requests
    assert (request.method, request.url, request.message_ids) == ("POST", URL, ("m1",))
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers[MESSAGE_ID_HEADER] == "m1"
    body = json.loads(request.body)
    assert body == {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}}]}  # fmt: skip


FIELDS = {"userId": "u1", "properties.amount": "12.5", "traits.plan": "free"}
TEMPLATE_CASES = [
    ("{userId} paid {properties.amount}", "u1 paid 12.5"),
    ("{{literal}} {traits.plan}", "{literal} free"),
    # a dotted name is a key like any other (missing: empty), never an attribute; indexing,
    # conversions and format specs are not placeholders at all
    (
        "{userId.__class__}|{userId[0]}|{userId!r}|{userId:>10}",
        "|{userId[0]}|{userId!r}|{userId:>10}",
    ),
    ("{nothing} here", " here"),
    ("unbalanced { brace", "unbalanced { brace"),
]


@pytest.mark.parametrize(("template", "text"), TEMPLATE_CASES)
def test_templates_only_look_up_flat_keys(template: str, text: str) -> None:
    assert render(template, FIELDS) == text


def test_nested_properties_and_lists_flatten() -> None:
    event = track("subscription_cancelled", properties={"reason": {"code": "fees"}, "tags": [1, 2]})
    settings = {"subscription_cancelled": "{properties.reason.code} {properties.tags} {type}"}
    [request] = transform(templates=settings).prepare([event], [NOBODY]).requests
    assert json.loads(request.body)["text"] == "fees 1, 2 track"


def test_events_without_a_template_are_skipped_and_empty_messages_refused() -> None:
    events = [track("kyc_started", "a"), track("Audience Exited", "b"),
              track("subscription_cancelled", "c")]  # fmt: skip
    prepared = transform(templates={"subscription_cancelled": " {nothing} "}).prepare(
        events, [NOBODY] * 3
    )
    assert prepared.requests == []
    assert prepared.skipped == {"a": NO_TEMPLATE.format(what="kyc_started"),
                                "b": NO_TEMPLATE.format(what="Audience Exited")}  # fmt: skip
    assert prepared.refused == {"c": EMPTY_MESSAGE.format(key="subscription_cancelled")}


def test_one_message_per_event() -> None:
    events = [track("subscription_cancelled", f"m{i}") for i in range(3)]
    prepared = transform().prepare(events, [NOBODY] * 3)
    assert [r.message_ids for r in prepared.requests] == [("m0",), ("m1",), ("m2",)]


def test_long_messages_fit_slacks_limits() -> None:
    body = message(("line of text &amp; more\n" * 2_500)[:-1])
    assert len(body["text"]) <= MAX_TEXT and body["text"].endswith("…")
    pieces = [b["text"]["text"] for b in body["blocks"]]
    assert all(0 < len(p) <= MAX_SECTION for p in pieces) and len(pieces) <= 50
    assert all(not p.endswith(("&", "&a", "&am", "&amp")) for p in pieces)


def test_default_filter_and_nature(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SlackTransform.event_types == ("track",)
    assert SlackTransform.consent_category == "functional"
    assert (SlackTransform.provider_dedup, SlackTransform.min_interval_seconds) == (False, 1.0)
    monkeypatch.setenv("CDP_SLACK_WEBHOOK_URL", URL)
    monkeypatch.setenv("CDP_SLACK_TEMPLATES", json.dumps({"churn_risk": "x", "kyc_failed": "y"}))
    settings = SlackSettings()
    assert settings.events == ["churn_risk", "kyc_failed", *AUDIENCE_EVENTS]
    assert "secret" not in repr(settings)
    monkeypatch.setenv("CDP_SLACK_EVENTS", "kyc_failed")
    assert SlackSettings().events == ["kyc_failed"]


def test_nothing_until_a_template_is_configured() -> None:
    unset = transform(webhook_url="", templates={})
    assert unset.missing() == ["CDP_SLACK_WEBHOOK_URL", "CDP_SLACK_TEMPLATES"]
    assert SlackSettings(webhook_url=URL).events is None
    assert unset.prepare([track("anything")], [NOBODY]).requests == []
    assert transform().missing() == []


REQUEST = Request("POST", URL, {}, b"{}", ("m1",))
VERDICTS = [
    (200, "ok", {}, Outcome.SENT, None),
    (400, "invalid_payload", {}, Outcome.PERMANENT, None),
    (400, "no_text", {}, Outcome.PERMANENT, None),
    (404, "channel_not_found", {}, Outcome.PERMANENT, None),
    (410, "channel_is_archived", {}, Outcome.PERMANENT, None),
    (404, "channel_is_archived", {}, Outcome.PERMANENT, None),
    (403, "action_prohibited", {}, Outcome.PERMANENT, None),
    (404, "no_service", {}, Outcome.PERMANENT, None),
    (410, "no_service", {}, Outcome.PERMANENT, None),
    (429, "rate_limited", {"Retry-After": "3"}, Outcome.RETRY, 3.0),
    (500, "rollup_error", {}, Outcome.RETRY, None),
    (503, "", {}, Outcome.RETRY, None),
    (418, "something new", {}, Outcome.PERMANENT, None),
]


@pytest.mark.parametrize(("status", "text", "headers", "outcome", "retry_after"), VERDICTS)
def test_verdict_reads_slacks_text(
    status: int, text: str, headers: dict[str, str], outcome: Outcome, retry_after: float | None
) -> None:
    verdict = transform().verdict(REQUEST, HttpResponse(status, headers, text.encode()))
    assert (verdict.outcome, verdict.retry_after_seconds) == (outcome, retry_after)
    assert "secret" not in verdict.reason
    if text and outcome is not Outcome.SENT:
        assert text in verdict.reason


@pytest.fixture(scope="module")
def server() -> Iterator[SlackStandIn]:
    running = SlackStandIn()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def standin(server: SlackStandIn) -> SlackStandIn:
    server.clear()
    return server


def live(standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> SlackTransform:
    for name, value in function_environment(standin.url).items():
        monkeypatch.setenv(name, value)
    return SlackTransform(SlackSettings(), FakeClock())


def test_round_trip_through_the_real_sender(
    standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = live(standin, monkeypatch)
    events = [track("subscription_cancelled", f"m{i}") for i in range(3)]
    high_value = {"audience_key": "churn_risk", "high_value": True}  # the local alert's condition
    events.append(track("Audience Entered", "a1", properties=high_value))
    prepared = slack.prepare(events, [Person("p1", traits={"first_name": "Ann"})] * 4)
    sender = HttpxSender()
    for r in prepared.requests:
        answer = sender.send(HttpRequest(r.method, r.url, r.headers, r.body))
        assert (answer.status, answer.body) == (200, b"ok")
        assert slack.verdict(r, answer).outcome is Outcome.SENT
    assert standin.refused == []
    assert standin.keys() == ["m0", "m1", "m2", "a1"]
    assert standin.texts()[0] == "Ann (u1) cancelled their subscription"
    standin.fail(status=429, times=1, retry_after=2, body="rate_limited")
    r = prepared.requests[0]
    verdict = slack.verdict(r, sender.send(HttpRequest(r.method, r.url, r.headers, r.body)))
    assert (verdict.outcome, verdict.retry_after_seconds) == (Outcome.RETRY, 2.0)


S = standin_module
JSON = {"content-type": "application/json"}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
STANDIN_REFUSALS: list[tuple[str, str, str, dict[str, str], Any, int, str]] = [
    ("another webhook", "POST", "/services/T/B/other", JSON, {"text": "hi"}, 404, S.NO_SERVICE),
    ("GET", "GET", S.PATH, JSON, {"text": "hi"}, 405, ""),
    ("form-encoded", "POST", S.PATH, {"content-type": "application/x-www-form-urlencoded"},
     {"text": "hi"}, 400, S.INVALID_PAYLOAD),
    ("not JSON", "POST", S.PATH, JSON, b"{", 400, S.INVALID_PAYLOAD),
    ("a list", "POST", S.PATH, JSON, ["hi"], 400, S.INVALID_PAYLOAD),
    ("no text", "POST", S.PATH, JSON, {}, 400, S.NO_TEXT),
    ("blank text", "POST", S.PATH, JSON, {"text": "  "}, 400, S.NO_TEXT),
    ("text a number", "POST", S.PATH, JSON, {"text": 5}, 400, S.INVALID_PAYLOAD),
    ("text over 40,000", "POST", S.PATH, JSON, {"text": "x" * 40_001}, 400, S.MSG_TOO_LONG),
    ("51 blocks", "POST", S.PATH, JSON, {"text": "hi", "blocks": [SECTION] * 51}, 400,
     S.INVALID_BLOCKS),
    ("section over 3,000", "POST", S.PATH, JSON,
     {"text": "hi",
      "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
     400, S.INVALID_BLOCKS),
    ("section text type", "POST", S.PATH, JSON,
     {"text": "hi", "blocks": [{"type": "section", "text": {"type": "html", "text": "x"}}]},
     400, S.INVALID_BLOCKS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "headers", "payload", "status", "text"),
    [c[1:] for c in STANDIN_REFUSALS],
    ids=[c[0] for c in STANDIN_REFUSALS],
)
def test_the_standin_refuses_what_slack_refuses(
    method: str, path: str, headers: dict[str, str], payload: Any, status: int, text: str
) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    reply = SlackStandIn().check(method, path, headers, raw)
    assert (reply.status, reply.body) == (status, text)
    assert reply.delivered == ()


def test_the_standin_takes_blocks_alone_and_answers_ok_over_http(standin: SlackStandIn) -> None:
    reply = SlackStandIn().check("POST", S.PATH, JSON, json.dumps({"blocks": [SECTION]}).encode())
    assert reply.status == 200 and reply.delivered[0]["key"]
    answer = HttpxSender().send(HttpRequest("POST", f"{standin.url}{S.PATH}", {}, b"{}"))
    assert (answer.status, answer.body) == (400, b"invalid_payload")
