"""Amplitude HTTP V2: the mapping against Amplitude's documented contract, its limits, the
verdicts on its answers, and the transform's requests sent for real to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.amplitude import (
    NO_EVENT_NAME,
    NO_ID,
    NO_TRAITS,
    TOO_LARGE,
    AmplitudeSettings,
    AmplitudeTransform,
    resend_without,
    usermap_request,
)
from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Request
from shared.local.standins import amplitude as standin_module
from shared.local.standins.amplitude import (
    BAD_EVENTS,
    BAD_KEY,
    NO_EVENTS,
    NOT_JSON_TYPE,
    TOO_BIG,
    TOO_MANY,
    AmplitudeStandIn,
)
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WHEN = "2026-11-22T11:59:30.250Z"
WHEN_MS = 1_795_348_770_250
KEY = "k-amplitude"


def transform(**overrides: Any) -> AmplitudeTransform:
    settings = AmplitudeSettings(api_key=KEY, **overrides)
    return AmplitudeTransform(settings, FakeClock(NOW))


def event(kind: str = "track", n: int = 0, **fields: Any) -> dict[str, Any]:
    base = {"type": kind, "messageId": f"m-{n}", "timestamp": WHEN, "userId": "user-1",
            "anonymousId": "anon-0001"}  # fmt: skip
    if kind == "track":
        base["event"] = "card_activated"
    return {**base, **fields}


def sent_events(requests: list[Request]) -> list[dict[str, Any]]:
    return [e for r in requests for e in json.loads(r.body)["events"]]


def prepared_one(source: dict[str, Any]) -> list[dict[str, Any]]:
    prepared = transform().prepare([source], [NOBODY])
    assert not prepared.refused and not prepared.skipped
    return sent_events(prepared.requests)


WEB = {"ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "locale": "de-DE",
       "page": {"url": "https://app.example/cards", "path": "/cards", "title": "Cards",
                "referrer": "https://example.org"},
       "library": {"name": "analytics.js", "version": "5.2.0"}}  # fmt: skip
APP = {"app": {"version": "3.4.1"}, "os": {"name": "iOS", "version": "18.1"},
       "device": {"model": "iPhone16,1", "manufacturer": "Apple", "advertisingId": "AD-1"},
       "network": {"carrier": "Telekom"},
       "location": {"country": "DE", "city": "Berlin", "latitude": 52.5,
                    "longitude": 13.4}}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (event(), {"event_type": "card_activated", "user_id": "user-1", "device_id": "anon-0001",
                   "time": WHEN_MS, "insert_id": "m-0"}),
        (event(userId=None), {"device_id": "anon-0001"}),
        (event(anonymousId=None, context={"device": {"id": "device-77"}}),
         {"user_id": "user-1", "device_id": "device-77"}),
        (event(anonymousId="00000000-0000-0000-0000-000000000000"), {"user_id": "user-1"}),
        (event(userId=12345678), {"user_id": "12345678"}),
        (event(properties={"amount": 12.5, "currency": "EUR"}),
         {"event_properties": {"amount": 12.5, "currency": "EUR"}}),
        (event(properties={"revenue": 9, "quantity": 2, "product_id": "p-1"}),
         {"revenue": 9.0, "quantity": 2, "productId": "p-1"}),
        (event(context={"traits": {"plan": "gold"}}),
         {"user_properties": {"$set": {"plan": "gold"}}}),
        (event(context=WEB), {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "language": "de-DE",
                              "platform": "Web", "library": "analytics.js/5.2.0"}),
        (event(context=APP), {"platform": "iOS", "os_name": "iOS", "os_version": "18.1",
                              "device_model": "iPhone16,1", "device_manufacturer": "Apple",
                              "app_version": "3.4.1", "carrier": "Telekom", "idfa": "AD-1",
                              "country": "DE", "city": "Berlin", "location_lat": 52.5,
                              "location_lng": 13.4}),
        (event("page", name="Cards", context=WEB),
         {"event_type": "Page Viewed",
          "event_properties": {"name": "Cards", "url": "https://app.example/cards",
                               "path": "/cards", "title": "Cards",
                               "referrer": "https://example.org"}}),
        (event("screen", name="Wallet", properties={"tab": "cards"}),
         {"event_type": "Screen Viewed", "event_properties": {"name": "Wallet", "tab": "cards"}}),
        (event("identify", traits={"plan": "gold", "kyc": True}),
         {"event_type": "$identify", "user_properties": {"$set": {"plan": "gold", "kyc": True}},
          "insert_id": "m-0"}),
    ],
)  # fmt: skip
def test_each_call_maps_to_amplitude_fields(
    source: dict[str, Any], expected: dict[str, Any]
) -> None:
    [found] = prepared_one(source)
    assert {k: found.get(k) for k in expected} == expected
    if "device_id" not in expected and source.get("anonymousId", "").startswith("0000"):
        assert "device_id" not in found


def test_a_group_puts_the_user_in_it_and_sets_the_group_properties() -> None:
    join, properties = prepared_one(event("group", groupId="acme-gmbh", traits={"plan": "team"}))
    assert join["event_type"] == "$identify" and join["insert_id"] == "m-0"
    assert join["groups"] == {"company": "acme-gmbh"}
    assert join["user_properties"] == {"$set": {"company": "acme-gmbh"}}
    assert properties["event_type"] == "$groupidentify"
    assert properties["insert_id"] == "m-0:group"
    assert properties["group_properties"] == {"$set": {"plan": "team"}}
    assert [e["event_type"] for e in prepared_one(event("group", groupId="g-1"))] == ["$identify"]


def test_request_shape_and_short_ids() -> None:
    [request] = transform().prepare([event()], [NOBODY]).requests
    assert (request.method, request.url) == ("POST", "https://api2.amplitude.com/2/httpapi")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["api_key"] == KEY
    assert "options" not in json.loads(request.body)
    [short] = transform().prepare([event(userId="u7")], [NOBODY]).requests
    assert json.loads(short.body)["options"] == {"min_id_length": 2}


def test_what_cannot_be_sent_is_refused_and_empty_identifies_skipped() -> None:
    events = [event(userId=None, anonymousId=None, n=1), event(event="", n=2),
              event("identify", n=3), event(n=4, properties={"blob": "x" * 1_100_000})]  # fmt: skip
    prepared = transform().prepare(events, [NOBODY] * 4)
    assert prepared.refused == {"m-1": NO_ID, "m-2": NO_EVENT_NAME, "m-4": TOO_LARGE}
    assert prepared.skipped == {"m-3": NO_TRAITS}
    assert prepared.requests == []


def test_batches_stay_within_2000_events_and_1_mb() -> None:
    many = transform().prepare([event(n=i) for i in range(2001)], [NOBODY] * 2001)
    assert [len(r.message_ids) for r in many.requests] == [2000, 1]
    big = [event(n=i, properties={"blob": "x" * 300_000}) for i in range(7)]
    requests = transform().prepare(big, [NOBODY] * 7).requests
    assert all(len(r.body) < 1_000_000 for r in requests)
    assert [m for r in requests for m in r.message_ids] == [f"m-{i}" for i in range(7)]
    assert len(requests) == 3


def test_the_endpoint_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_AMPLITUDE_ENDPOINT", "https://api.eu.amplitude.com")
    monkeypatch.setenv("CDP_AMPLITUDE_API_KEY", "from-env")
    monkeypatch.setenv("CDP_AMPLITUDE_SECRET_KEY", "secret")
    settings = AmplitudeSettings()
    assert (settings.api_key, settings.secret_key) == ("from-env", "secret")
    assert "from-env" not in repr(settings) and "secret" not in repr(settings)
    [request] = AmplitudeTransform(settings, FakeClock(NOW)).prepare([event()], [NOBODY]).requests
    assert request.url == "https://api.eu.amplitude.com/2/httpapi"
    assert AmplitudeTransform(AmplitudeSettings(api_key=""), FakeClock(NOW)).missing() == [
        "CDP_AMPLITUDE_API_KEY"
    ]


def answer(status: int, body: Any = None, **headers: str) -> HttpResponse:
    return HttpResponse(status, headers, json.dumps(body).encode() if body is not None else b"")


GROUPED = [event(n=0), event("group", n=1, groupId="g-1", traits={"a": 1}), event(n=2)]


@pytest.mark.parametrize(
    ("response", "outcome", "refused", "retry_after"),
    [
        (answer(200, {"code": 200, "events_ingested": 4}), Outcome.SENT, {}, None),
        (answer(400, {"code": 400, "events_with_invalid_fields": {"time": [0]},
                      "events_with_missing_fields": {"event_type": [2]}}),
         Outcome.PERMANENT,
         {"m-0": "Amplitude: invalid time", "m-1": "Amplitude: missing event_type"}, None),
        (answer(400, {"code": 400, "silenced_events": [3],
                      "events_with_invalid_id_lengths": {"user_id": [3]}}),
         Outcome.PERMANENT,
         {"m-2": "Amplitude: user_id shorter than min_id_length, silenced device"}, None),
        (answer(400, {"code": 400, "error": "Invalid API key: x"}), Outcome.PERMANENT, {}, None),
        (answer(413, {"code": 413}), Outcome.PERMANENT, {}, None),
        (answer(429, {"code": 429}, **{"Retry-After": "7"}), Outcome.RETRY, {}, 7.0),
        (answer(429, {"code": 429, "throttled_events": [0]}), Outcome.RETRY, {}, 30.0),
        (answer(500), Outcome.RETRY, {}, None),
        (answer(503), Outcome.RETRY, {}, None),
        (answer(401), Outcome.PERMANENT, {}, None),
    ],
)  # fmt: skip
def test_verdicts(
    response: HttpResponse, outcome: Outcome, refused: dict[str, str], retry_after: float | None
) -> None:
    amplitude = transform()
    [request] = amplitude.prepare(GROUPED, [NOBODY] * 3).requests
    found = amplitude.verdict(request, response)
    assert (found.outcome, dict(found.refused), found.retry_after_seconds) == (
        outcome, refused, retry_after
    )  # fmt: skip


def test_resend_without_keeps_everything_but_the_refused_events() -> None:
    [request] = transform().prepare(GROUPED, [NOBODY] * 3).requests
    rest = resend_without(request, {"m-1": "invalid"})
    assert rest is not None and rest.message_ids == ("m-0", "m-2")
    assert [e["insert_id"] for e in json.loads(rest.body)["events"]] == ["m-0", "m-2"]
    assert (rest.url, rest.headers) == (request.url, request.headers)
    assert resend_without(request, ["m-0", "m-1", "m-2"]) is None


def test_usermap_requests_map_merged_user_ids_onto_the_survivor() -> None:
    settings = AmplitudeSettings(api_key=KEY)
    [request] = usermap_request(settings, [("old-user", "survivor")])
    assert (request.method, request.url) == ("POST", "https://api.amplitude.com/usermap")
    form = parse_qs(request.body.decode())
    assert form["api_key"] == [KEY]
    assert json.loads(form["mapping"][0]) == [{"user_id": "old-user", "global_user_id": "survivor"}]
    [undo] = usermap_request(settings, [("old-user", "survivor")], unmap=True)
    assert json.loads(parse_qs(undo.body.decode())["mapping"][0])[0]["unmap"] is True
    assert len(usermap_request(settings, [(f"u{i}", "g") for i in range(2001)])) == 2
    eu = AmplitudeSettings(api_key=KEY, endpoint="https://api.eu.amplitude.com")
    assert usermap_request(eu, [("a", "b")])[0].url == "https://api.eu.amplitude.com/usermap"


# Against the stand-in, over HTTP.


@pytest.fixture(scope="module")
def running() -> Iterator[AmplitudeStandIn]:
    server = AmplitudeStandIn(api_key=KEY)
    server.start()
    yield server
    server.stop()  # once: a stop waits for the server's half-second poll


@pytest.fixture
def standin(running: AmplitudeStandIn) -> AmplitudeStandIn:
    running.clear()
    return running


def send(request: Request) -> HttpResponse:
    return SENDER.send(HttpRequest(request.method, request.url, request.headers, request.body, 5))


SENDER = HttpxSender()


def journey() -> list[dict[str, Any]]:
    return [event(n=0, context=WEB), event("page", n=1, name="Cards", context=WEB),
            event("screen", n=2, context=APP), event("identify", n=3, traits={"plan": "gold"}),
            event("group", n=4, groupId="acme", traits={"size": 40}),
            event(n=5, userId="u7", anonymousId=None)]  # fmt: skip


def test_the_stand_in_accepts_every_request_and_delivers_each_event_once(
    standin: AmplitudeStandIn,
) -> None:
    amplitude = transform(endpoint=standin.url)
    prepared = amplitude.prepare(journey(), [NOBODY] * 6)
    for request in prepared.requests:
        assert amplitude.verdict(request, send(request)).outcome is Outcome.SENT
    assert standin.refused == []
    assert sorted(standin.keys()) == ["m-0", "m-1", "m-2", "m-3", "m-4", "m-4:group", "m-5"]
    [mapping] = usermap_request(AmplitudeSettings(api_key=KEY, endpoint=standin.url), [("a", "b")])
    assert send(mapping).status == 200


def test_a_400_naming_one_event_then_the_rest_resent(standin: AmplitudeStandIn) -> None:
    amplitude = transform(endpoint=standin.url)
    [request] = amplitude.prepare(journey()[:3], [NOBODY] * 3).requests
    standin.fail(status=400, body={"code": 400, "events_with_invalid_fields": {"time": [1]}})
    verdict = amplitude.verdict(request, send(request))
    assert verdict.outcome is Outcome.PERMANENT and list(verdict.refused) == ["m-1"]
    rest = resend_without(request, verdict.refused)
    assert rest is not None
    assert amplitude.verdict(rest, send(rest)).outcome is Outcome.SENT
    assert standin.keys() == ["m-0", "m-2"]


def test_a_429_with_retry_after_then_delivered_once(standin: AmplitudeStandIn) -> None:
    amplitude = transform(endpoint=standin.url)
    [request] = amplitude.prepare([event()], [NOBODY]).requests
    standin.fail(status=429, times=1, retry_after=2)
    first = amplitude.verdict(request, send(request))
    assert (first.outcome, first.retry_after_seconds) == (Outcome.RETRY, 2.0)
    assert amplitude.verdict(request, send(request)).outcome is Outcome.SENT
    assert standin.keys() == ["m-0"]


def raw(standin: AmplitudeStandIn, payload: Any, content_type: str = "application/json") -> int:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = HttpRequest("POST", standin.url + "/2/httpapi", {"Content-Type": content_type}, data)
    return SENDER.send(request).status


GOOD = {"event_type": "x", "user_id": "user-1", "time": WHEN_MS, "insert_id": "i-1"}


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "reason"),
    [
        ({"api_key": "wrong", "events": [GOOD]}, "application/json", 400, BAD_KEY),
        ({"api_key": KEY, "events": []}, "application/json", 400, NO_EVENTS),
        ({"api_key": KEY, "events": [GOOD]}, "text/plain", 400, NOT_JSON_TYPE),
        ({"api_key": KEY, "events": [{**GOOD, "event_type": ""}]}, "application/json", 400,
         BAD_EVENTS),
        ({"api_key": KEY, "events": [{**GOOD, "time": WHEN_MS // 1000}]}, "application/json", 400,
         BAD_EVENTS),
        ({"api_key": KEY, "events": [{**GOOD, "user_id": "u7"}]}, "application/json", 400,
         BAD_EVENTS),
        ({"api_key": KEY, "events": [{**GOOD, "user_id": None, "device_id": "0000-0000"}]},
         "application/json", 400, BAD_EVENTS),
        ({"api_key": KEY, "events": [{**GOOD, "event_type": "$identify"}]}, "application/json",
         400, BAD_EVENTS),
        ({"api_key": KEY, "events": [GOOD] * 2001}, "application/json", 413, TOO_MANY),
        ({"api_key": KEY, "events": [{**GOOD, "event_properties": {"b": "x" * 1_000_001}}]},
         "application/json", 413, TOO_BIG),
    ],
)  # fmt: skip
def test_the_stand_in_refuses_what_amplitude_refuses(
    standin: AmplitudeStandIn, payload: Any, content_type: str, status: int, reason: str
) -> None:
    assert raw(standin, payload, content_type) == status
    assert [r["reason"] for r in standin.refused] == [reason]
    assert standin.delivered == []


def test_the_stand_in_names_the_faulty_events_by_index(standin: AmplitudeStandIn) -> None:
    events = [GOOD, {**GOOD, "time": 5}, {**GOOD, "user_id": "u7"}, {**GOOD, "event_type": ""}]
    data = json.dumps({"api_key": KEY, "events": events}).encode()
    found = SENDER.send(HttpRequest("POST", standin.url + "/2/httpapi",
                                    {"Content-Type": "application/json"}, data))  # fmt: skip
    body = json.loads(found.body)
    assert body["events_with_invalid_fields"] == {"time": [1]}
    assert body["events_with_invalid_id_lengths"] == {"user_id": [2]}
    assert body["events_with_missing_fields"] == {"event_type": [3]}
    with_option = {"api_key": KEY, "events": [{**GOOD, "user_id": "u7"}],
                   "options": {"min_id_length": 2}}  # fmt: skip
    assert raw(standin, with_option) == 200


def test_function_environment_points_the_platform_at_the_stand_in() -> None:
    env = standin_module.function_environment("http://127.0.0.1:9999")
    assert env["CDP_AMPLITUDE_ENDPOINT"] == "http://127.0.0.1:9999"
    assert env["CDP_AMPLITUDE_API_KEY"] == AmplitudeStandIn().api_key
    assert set(env) == {"CDP_AMPLITUDE_ENDPOINT", "CDP_AMPLITUDE_API_KEY",
                        "CDP_AMPLITUDE_SECRET_KEY"}  # fmt: skip
