"""Firebase / GA4 for engaged users: the mapping as tables against the Measurement Protocol's
contract, its limits, the verdict, and a round trip through the real sender to the stand-in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.delivery import Outcome
from shared.destinations.firebase import (
    MESSAGE_IDS_HEADER,
    NO_APP_INSTANCE_ID,
    NO_APP_STREAM,
    NO_CLIENT_ID,
    NO_GA4_FORM,
    NO_WEB_STREAM,
    TOO_OLD,
    FirebaseSettings,
    FirebaseTransform,
    fit,
    platform_of,
)
from shared.destinations.framework import NOBODY, Person, Request
from shared.local.standins import firebase as standin_module
from shared.local.standins.firebase import FirebaseStandIn, function_environment
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

NOW = datetime.now(UTC).replace(microsecond=0)
TS = (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
IOS_APP, ANDROID_APP = standin_module.APP_IDS["ios"], standin_module.APP_IDS["android"]
INSTANCE = "0123456789abcdef0123456789abcdef"
SETTINGS = FirebaseSettings(
    endpoint="https://ga.example.com",
    api_secret="s3cret",
    measurement_id="G-LOCAL",
    app_id=json.dumps({"ios": IOS_APP, "android": ANDROID_APP}),
)


def transform(**overrides: Any) -> FirebaseTransform:
    return FirebaseTransform(SETTINGS.model_copy(update=overrides), FakeClock(NOW))


def event(kind: str = "track", mid: str = "m1", **extra: Any) -> dict[str, Any]:
    base = {"type": kind, "messageId": mid, "anonymousId": "anon-1", "timestamp": TS}
    if kind == "track":
        base["event"] = "Card Activated"
    return {**base, **extra}


def app(platform: str, mid: str = "m1", **extra: Any) -> dict[str, Any]:
    context = {"device": {"type": platform, "model": "Pixel 9", "manufacturer": "Google"},
               "os": {"name": platform, "version": "15"}}  # fmt: skip
    return event(mid=mid, context=context, integrations={"Firebase": {"appInstanceId": INSTANCE}},
                 **extra)  # fmt: skip


def one(events: list[dict[str, Any]], people: list[Person] | None = None, **settings: Any) -> Any:
    prepared = transform(**settings).prepare(events, people or [NOBODY] * len(events))
    [request] = prepared.requests
    return request, json.loads(request.body), parse_qs(urlsplit(request.url).query)


# What each Segment event becomes: (case, event, person, request fields, query fields).
MAPPED: list[tuple[str, dict[str, Any], Person, dict[str, Any], dict[str, str]]] = [
    ("web track: client_id is the anonymousId, user_id the userId",
     event(userId="user-7"), NOBODY,
     {"client_id": "anon-1", "user_id": "user-7"}, {"measurement_id": "G-LOCAL"}),
    ("web page: client_id from the GA cookie the page passed on",
     event("page", integrations={"Google Analytics 4": {"clientId": "GA1.1.111.222"}}), NOBODY,
     {"client_id": "111.222"}, {"measurement_id": "G-LOCAL"}),
    ("ios screen: its app stream and app_instance_id from integrations.Firebase",
     app("ios", type="screen", name="Dashboard"), NOBODY,
     {"app_instance_id": INSTANCE, "device": {"category": "mobile", "operating_system": "ios",
      "operating_system_version": "15", "model": "Pixel 9", "brand": "Google"}},
     {"firebase_app_id": IOS_APP}),
    ("android track: app_instance_id from context.externalIds",
     event(properties={"platform": "android"}, context={"externalIds": [
         {"id": INSTANCE.upper(), "type": "app_instance_id", "collection": "users"}]}), NOBODY,
     {"app_instance_id": INSTANCE}, {"firebase_app_id": ANDROID_APP}),
    ("a userId that is an email never becomes user_id",
     event(userId="ann@example.com"), NOBODY, {"client_id": "anon-1"}, {}),
    ("profile traits become user_properties, PII left out",
     event(), Person("p1", traits={"plan": "premium", "email": "a@b.co", "firstName": "Ann",
                                   "lifetime_value": 12.5, "referrer": "x" * 50}),
     {"client_id": "anon-1",
      "user_properties": {"plan": {"value": "premium"}, "lifetime_value": {"value": 12.5},
                          "referrer": {"value": "x" * 36}}}, {}),
    ("a person who refused advertising: consent DENIED",
     event(), Person("p1", consent={"advertising": False, "analytics": True}),
     {"client_id": "anon-1",
      "consent": {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}}, {}),
    ("the device's IP, not ours, for geography",
     event(context={"ip": "203.0.113.9", "locale": "en-GB"}), NOBODY,
     {"client_id": "anon-1", "ip_override": "203.0.113.9", "device": {"language": "en-GB"}}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("ev", "person", "fields", "query"), [c[1:] for c in MAPPED],
                         ids=[c[0] for c in MAPPED])  # fmt: skip
def test_mapping(ev: dict[str, Any], person: Person, fields: dict[str, Any],
                 query: dict[str, str]) -> None:  # fmt: skip
    request, body, sent_query = one([ev], [person])
    assert (request.method, request.url.split("?")[0]) == (
        "POST",
        "https://ga.example.com/mp/collect",
    )
    assert request.headers["Content-Type"] == "application/json"
    assert sent_query["api_secret"] == ["s3cret"]
    for name, value in query.items():
        assert sent_query[name] == [value]
    expected_keys = {"events", *fields}
    assert set(body) == expected_keys
    for name, value in fields.items():
        assert body[name] == value
    [ga] = body["events"]
    assert {"session_id", "engagement_time_msec"} <= set(ga["params"])
    assert ga["timestamp_micros"] == int((NOW - timedelta(minutes=5)).timestamp() * 1e6)
    assert request.message_ids == ("m1",)
    assert json.loads(request.headers[MESSAGE_IDS_HEADER]) == ["m1"]


def test_event_names_come_from_the_cold_path_mapping() -> None:
    events = [event(mid="a"), event("page", mid="b"), app("ios", mid="c", type="screen"),
              event("group", mid="d", groupId="g1")]  # fmt: skip
    prepared = transform().prepare(events, [NOBODY] * 4)
    names = [e["name"] for r in prepared.requests for e in json.loads(r.body)["events"]]
    assert names == ["card_activated", "page_view", "join_group", "app_screen_view"]


SKIPPED = [
    ("app event without an app_instance_id (context.device.id is not one)",
     event(context={"device": {"type": "ios", "id": "device-1"}}), {}, NO_APP_INSTANCE_ID),
    ("server event with a userId only", {**event(userId="u1"), "anonymousId": None}, {},
     NO_CLIENT_ID),
    ("ios event when only the android app is configured", app("ios"),
     {"app_id": json.dumps({"android": ANDROID_APP})}, NO_APP_STREAM.format(platform="ios")),
    ("web event without a measurement id", event(), {"measurement_id": ""}, NO_WEB_STREAM),
    ("identify has no GA4 event", event("identify", traits={"plan": "x"}), {},
     NO_GA4_FORM.format(kind="identify")),
]  # fmt: skip


@pytest.mark.parametrize(("ev", "settings", "reason"), [c[1:] for c in SKIPPED],
                         ids=[c[0] for c in SKIPPED])  # fmt: skip
def test_skipped_with_the_reason(ev: dict[str, Any], settings: dict[str, Any], reason: str) -> None:
    prepared = transform(**settings).prepare([ev], [NOBODY])
    assert (prepared.requests, prepared.skipped, prepared.refused) == ([], {"m1": reason}, {})


def test_one_app_id_serves_every_app_platform() -> None:
    _, _, query = one([app("android")], app_id=IOS_APP)
    assert query["firebase_app_id"] == [IOS_APP]


def test_an_event_older_than_72_hours_is_skipped() -> None:
    old = (NOW - timedelta(hours=73)).isoformat()
    prepared = transform().prepare([event(timestamp=old)], [NOBODY])
    assert (prepared.requests, prepared.skipped, prepared.refused) == ([], {"m1": TOO_OLD}, {})


def test_25_events_per_request_one_device_per_request() -> None:
    events = [event(mid=f"a{i}") for i in range(60)]
    events += [event(mid="b0", anonymousId="anon-2"), app("ios", mid="c0")]
    prepared = transform().prepare(events, [NOBODY] * len(events))
    assert [len(r.message_ids) for r in prepared.requests] == [25, 25, 10, 1, 1]
    assert [m for r in prepared.requests for m in r.message_ids] == [e["messageId"] for e in events]
    assert all(not FirebaseTransform.problems(json.loads(r.body)) for r in prepared.requests)


def test_a_request_over_130_kb_is_halved() -> None:
    items = [(f"m{i}", {"name": "x", "params": {"p": "y" * 40_000}}) for i in range(4)]
    payloads = fit({"client_id": "c"}, items)
    assert [ids for _, ids in payloads] == [["m0", "m1"], ["m2", "m3"]]


PROBLEMS = [
    ("app_instance_id not 32 hex", {"app_instance_id": "abc"}, "app_instance_id"),
    ("user_id over 256", {"client_id": "c", "user_id": "u" * 257}, "user_id"),
    ("reserved user property", {"client_id": "c", "user_properties": {"user_id": {"value": 1}}},
     "user property name"),
    ("no device id", {}, "client_id is required"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("head", "needle"), [c[1:] for c in PROBLEMS], ids=[c[0] for c in PROBLEMS]
)
def test_what_ga4_would_drop_is_found_before_sending(head: dict[str, Any], needle: str) -> None:
    ga = {"name": "x", "params": {"session_id": "1", "engagement_time_msec": 1}}
    assert any(needle in p for p in FirebaseTransform.problems({**head, "events": [ga]}))


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [(204, {}, Outcome.SENT, None), (200, {}, Outcome.SENT, None),
     (500, {}, Outcome.RETRY, None), (503, {}, Outcome.RETRY, None),
     (429, {"Retry-After": "2"}, Outcome.RETRY, 2.0), (400, {}, Outcome.PERMANENT, None),
     (403, {}, Outcome.PERMANENT, None)],
)  # fmt: skip
def test_verdict(status: int, headers: dict[str, str], outcome: Outcome,
                 retry_after: float | None) -> None:  # fmt: skip
    request = Request("POST", "https://ga.example.com/mp/collect", {}, b"{}", ("m1",))
    verdict = transform().verdict(request, HttpResponse(status, headers, b""))
    assert (verdict.outcome, verdict.retry_after_seconds) == (outcome, retry_after)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in function_environment("http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    settings = FirebaseSettings()
    assert (settings.endpoint, settings.api_secret) == ("http://127.0.0.1:9", "local-secret")
    assert (settings.app_for("ios"), settings.app_for("web")) == (IOS_APP, "")
    assert "local-secret" not in repr(settings)
    monkeypatch.setenv("CDP_FIREBASE_APP_ID", '{"ios": 1}')
    with pytest.raises(ValueError):
        FirebaseSettings()


def test_missing_settings() -> None:
    assert transform().missing() == []
    assert transform(api_secret="", measurement_id="", app_id="").missing() == [
        "CDP_FIREBASE_API_SECRET",
        "CDP_FIREBASE_MEASUREMENT_ID or CDP_FIREBASE_APP_ID",
    ]


def test_platform() -> None:
    assert platform_of(event(context={"os": {"name": "iOS"}})) == "ios"
    assert platform_of(event(context={"library": {"name": "analytics-kotlin"}})) == "android"
    assert platform_of(event(properties={"platform": "server"})) == "web"


@pytest.fixture(scope="module")
def server() -> Iterator[FirebaseStandIn]:
    running = FirebaseStandIn()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def standin(server: FirebaseStandIn) -> FirebaseStandIn:
    server.clear()
    return server


def test_round_trip_through_the_real_sender(
    standin: FirebaseStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in function_environment(standin.url).items():
        monkeypatch.setenv(name, value)
    live = FirebaseTransform(FirebaseSettings(), FakeClock(datetime.now(UTC)))
    events = [event(mid=f"w{i}", userId="user-1", properties={"amount": i}) for i in range(30)]
    events += [app("ios", mid="i0", type="screen", name="Home"), app("android", mid="a0"),
               event("page", mid="p0", context={"ip": "198.51.100.1"})]  # fmt: skip
    people = [Person("p1", {"advertising": True}, {"plan": "free"})] * len(events)
    prepared = live.prepare(events, people)
    assert (prepared.skipped, prepared.refused) == ({}, {})
    sender = HttpxSender()
    for r in prepared.requests:
        answer = sender.send(HttpRequest(r.method, r.url, r.headers, r.body))
        assert live.verdict(r, answer).outcome is Outcome.SENT, answer.body
    assert standin.refused == []
    assert sorted(standin.keys()) == sorted(e["messageId"] for e in events)
    standin.fail(status=500, times=1)
    r = prepared.requests[0]
    answer = sender.send(HttpRequest(r.method, r.url, r.headers, r.body))
    assert live.verdict(r, answer).outcome is Outcome.RETRY


GOOD_EVENT = {"name": "x", "params": {"session_id": "1", "engagement_time_msec": 100}}
WEB = {"measurement_id": ["G-LOCAL"], "api_secret": ["local-secret"]}
IOS = {"firebase_app_id": [IOS_APP], "api_secret": ["local-secret"]}


def body(**fields: Any) -> bytes:
    return json.dumps({"client_id": "c.1", "events": [GOOD_EVENT], **fields}).encode()


def app_body(**fields: Any) -> bytes:
    return json.dumps({"app_instance_id": INSTANCE, "events": [GOOD_EVENT], **fields}).encode()


S = standin_module
REFUSALS: list[tuple[str, dict[str, list[str]], bytes, str]] = [
    ("no api_secret", {"measurement_id": ["G-LOCAL"]}, body(), S.NO_SECRET),
    ("wrong api_secret", {**WEB, "api_secret": ["nope"]}, body(), S.BAD_SECRET),
    ("no stream", {"api_secret": ["local-secret"]}, body(), S.ONE_STREAM),
    ("both streams", {**WEB, **IOS}, body(), S.ONE_STREAM),
    ("another property", {**WEB, "measurement_id": ["G-OTHER"]}, body(), S.BAD_MEASUREMENT_ID),
    ("app id not a Firebase app id", {**IOS, "firebase_app_id": ["ios-app"]}, app_body(),
     S.BAD_APP_ID),
    ("web without client_id", WEB, json.dumps({"events": [GOOD_EVENT]}).encode(), S.NO_CLIENT_ID),
    ("app with a client_id only", IOS, body(), S.NO_APP_INSTANCE_ID),
    ("app_instance_id not 32 hex", IOS, app_body(app_instance_id="device-1"),
     S.BAD_APP_INSTANCE_ID),
    ("user_id an email", WEB, body(user_id="ann@example.com"), S.PII_USER_ID),
    ("user_id over 256", WEB, body(user_id="u" * 257), S.BAD_USER_ID),
    ("reserved user property", WEB, body(user_properties={"first_open_time": {"value": 1}}),
     S.BAD_USER_PROPERTY_NAME.format(name="first_open_time")),
    ("user property name of 25", WEB, body(user_properties={"p" * 25: {"value": 1}}),
     S.BAD_USER_PROPERTY_NAME.format(name="p" * 25)),
    ("user property value of 37", WEB, body(user_properties={"plan": {"value": "v" * 37}}),
     S.BAD_USER_PROPERTY_VALUE.format(name="plan")),
    ("26 user properties", WEB, body(user_properties={f"p{i}": {"value": i} for i in range(26)}),
     S.BAD_USER_PROPERTIES),
    ("consent not GRANTED/DENIED", WEB, body(consent={"ad_user_data": "yes"}), S.BAD_CONSENT),
    ("ip_override not an IP", WEB, body(ip_override="localhost"), S.BAD_IP),
    ("device with a number", WEB, body(device={"category": 1}), S.BAD_DEVICE),
    ("no events", WEB, body(events=[]), S.NO_EVENTS),
    ("26 events", WEB, body(events=[GOOD_EVENT] * 26), S.TOO_MANY_EVENTS),
    ("reserved event name", WEB, body(events=[{**GOOD_EVENT, "name": "session_start"}]),
     "Event name [session_start] is reserved."),
    ("no session_id", WEB, body(events=[{"name": "x", "params": {"engagement_time_msec": 1}}]),
     "session_id is missing."),
    ("not JSON", WEB, b"{", S.NOT_JSON),
    ("130 kB", WEB, body(pad="x" * 130_000), S.TOO_LARGE),
]  # fmt: skip


@pytest.mark.parametrize(("query", "raw", "reason"), [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])  # fmt: skip
def test_the_standin_refuses_what_ga4_refuses(query: dict[str, list[str]], raw: bytes,
                                              reason: str) -> None:  # fmt: skip
    messages, _ = FirebaseStandIn().validate(query, raw, time.time())
    assert reason in [m["description"] for m in messages]


def test_the_standin_accepts_valid_web_and_app_requests() -> None:
    server = FirebaseStandIn()
    assert server.validate(WEB, body(user_id="u1"), time.time())[0] == []
    assert server.validate(IOS, app_body(consent={"ad_user_data": "GRANTED"}), time.time())[0] == []


def test_the_standin_answers_like_ga4_over_http(standin: FirebaseStandIn) -> None:
    sender = HttpxSender()
    query = "measurement_id=G-LOCAL&api_secret=local-secret"
    debug = sender.send(HttpRequest("POST", f"{standin.url}/debug/mp/collect?{query}", {}, body()))
    assert (debug.status, json.loads(debug.body)) == (200, {"validationMessages": []})
    bad = sender.send(HttpRequest("POST", f"{standin.url}/mp/collect?{query}", {}, b"{"))
    assert bad.status == 400
    assert json.loads(bad.body)["validationMessages"][0]["description"] == S.NOT_JSON
    assert sender.send(HttpRequest("GET", f"{standin.url}/mp/collect?{query}")).status == 405
    assert sender.send(HttpRequest("POST", f"{standin.url}/collect", {}, body())).status == 404
    assert standin.delivered == []
