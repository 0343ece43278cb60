"""AppsFlyer S2S in-app events: the mapping as tables against AppsFlyer's documented contract,
the 1 KB body, the app id by platform, the answers, and real requests (httpx) to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.appsflyer import (
    BAD_KEY,
    MESSAGE_HEADER,
    NO_APP_ID,
    NO_APPSFLYER_ID,
    AppsFlyerSettings,
    AppsFlyerTransform,
    app_ids,
    event_value,
)
from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Person, Request
from shared.local.standins import appsflyer as standin
from shared.local.standins.appsflyer import AppsFlyerStandIn, function_environment
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TS = "2026-11-22T11:00:00.123Z"
AF_ID = "1415211453000-6513894"
IDFA = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
IDFV = "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D"
GAID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"
APPS = '{"ios": "1234567890", "android": "com.example.cdp"}'
IOS = {"os": {"name": "iOS", "version": "17.4"}, "ip": "203.0.113.9",
       "app": {"namespace": "com.example.cdp", "version": "2.1"},
       "device": {"advertisingId": IDFA, "id": IDFV, "adTrackingEnabled": True},
       "externalIds": [{"id": AF_ID, "type": "appsflyer_id", "collection": "users"}]}  # fmt: skip
ANDROID = {"os": {"name": "Android", "version": "14"},
           "device": {"advertisingId": GAID, "id": "android-id", "adTrackingEnabled": True},
           "externalIds": [{"id": AF_ID, "type": "appsflyer_id"}]}  # fmt: skip


def transform(**settings: Any) -> AppsFlyerTransform:
    values = {"dev_key": "k3y", "app_id": APPS, **settings}
    return AppsFlyerTransform(AppsFlyerSettings(**values), FakeClock(NOW))


def track(name: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "messageId": "m-1", "userId": "u-1",
            "timestamp": TS, "properties": {}, "context": IOS, **extra}  # fmt: skip


def body(event: dict[str, Any], person: Person = NOBODY, **settings: Any) -> dict[str, Any]:
    [request] = transform(**settings).prepare([event], [person]).requests
    return dict(json.loads(request.body))


CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (track(), {"appsflyer_id": AF_ID, "eventName": "af_complete_registration",
               "eventTime": "2026-11-22 11:00:00.123", "af_events_api": "true",
               "customer_user_id": "u-1", "idfa": IDFA, "idfv": IDFV, "os": "17.4",
               "bundleIdentifier": "com.example.cdp", "ip": "203.0.113.9",
               "app_version_name": "2.1", "eventValue": "", "advertising_id": None}),
    (track(context=ANDROID), {"advertising_id": GAID, "idfa": None, "idfv": None, "os": None}),
    (track("Order Completed", properties={"revenue": 12.5, "currency": "EUR", "order_id": "o9",
                                          "coupon": "SPRING"}),
     {"eventName": "af_purchase", "eventCurrency": "EUR",
      "eventValue": '{"af_revenue":"12.5","af_currency":"EUR","af_order_id":"o9",'
                    '"coupon":"SPRING"}'}),
    (track("kyc_started", properties={"email": "a@b.io", "note": "mail a@b.io", "step": 2}),
     {"eventName": "kyc_started", "eventValue": '{"step":"2"}'}),
    (track("x" * 60), {"eventName": "x" * 45}),
    (track(userId="someone@example.com"), {"customer_user_id": None}),
    (track(context={**IOS, "device": {"advertisingId": IDFA, "adTrackingEnabled": False}}),
     {"idfa": None}),
    (track(timestamp="2026-11-22T13:00:00Z"), {"eventTime": "2026-11-22 12:00:00.000"}),
]  # fmt: skip


@pytest.mark.parametrize(("event", "expected"), CASES)
def test_prepare_maps_segment_fields_to_s2s_fields(
    event: dict[str, Any], expected: dict[str, Any]
) -> None:
    found = body(event)
    assert {key: found.get(key) for key in expected} == expected


def test_the_request_url_headers_and_one_event_per_call() -> None:
    events = [track(messageId="m-1"), track(messageId="m-2", context=ANDROID)]
    requests = transform().prepare(events, [NOBODY, NOBODY]).requests
    assert [r.url for r in requests] == [
        "https://api2.appsflyer.com/inappevent/id1234567890",
        "https://api2.appsflyer.com/inappevent/com.example.cdp",
    ]
    assert [r.message_ids for r in requests] == [("m-1",), ("m-2",)]
    assert requests[0].headers == {"Content-Type": "application/json", "authentication": "k3y",
                                   MESSAGE_HEADER: "m-1"}  # fmt: skip


PEOPLE = [  # where the appsflyer_id comes from
    ({"context": {**IOS, "externalIds": []}, "traits": {"appsflyer_id": "1-2"}}, NOBODY, "1-2"),
    ({"context": {**IOS, "externalIds": [], "traits": {"appsflyer_id": "3-4"}}}, NOBODY, "3-4"),
    ({"context": {**IOS, "externalIds": []}}, Person(traits={"appsflyer_id": "5-6"}), "5-6"),
]


@pytest.mark.parametrize(("extra", "person", "appsflyer_id"), PEOPLE)
def test_the_appsflyer_id_from_external_ids_event_traits_or_person(
    extra: dict[str, Any], person: Person, appsflyer_id: str
) -> None:
    assert body(track(**extra), person)["appsflyer_id"] == appsflyer_id


def test_events_without_an_appsflyer_id_are_skipped_not_failed() -> None:
    event = track(context={**IOS, "externalIds": [{"id": "x", "type": "idfa"}]})
    prepared = transform().prepare([event], [NOBODY])
    assert (prepared.requests, prepared.refused) == ([], {})
    assert prepared.skipped == {"m-1": NO_APPSFLYER_ID}


APPS_BY_PLATFORM = [  # (setting, event context or properties, app id in the URL or skip reason)
    (APPS, {"context": IOS}, "id1234567890"),
    (APPS, {"context": {**IOS, "os": {}, "device": {"type": "android"}}}, "com.example.cdp"),
    (APPS, {"context": {"externalIds": IOS["externalIds"]}, "properties": {"platform": "ios"}},
     "id1234567890"),
    (APPS, {"context": {"externalIds": IOS["externalIds"]}}, NO_APP_ID.format(platform="unknown")),
    ('{"ios": "id99"}', {"context": ANDROID}, NO_APP_ID.format(platform="android")),
    ('{"ios": "id99"}', {"context": {"externalIds": IOS["externalIds"]}}, "id99"),
    ("com.example.one", {"context": {"externalIds": IOS["externalIds"]}}, "com.example.one"),
    ("555", {"context": ANDROID}, "id555"),
]  # fmt: skip


@pytest.mark.parametrize(("setting", "extra", "expected"), APPS_BY_PLATFORM)
def test_the_app_id_is_chosen_by_the_events_platform(
    setting: str, extra: dict[str, Any], expected: str
) -> None:
    prepared = transform(app_id=setting).prepare([track(**extra)], [NOBODY])
    found = [r.url.rsplit("/", 1)[1] for r in prepared.requests] or [prepared.skipped["m-1"]]
    assert found == [expected]


def test_app_store_ids_get_their_id_prefix() -> None:
    assert app_ids('{"iOS": "123", "android": "com.x"}') == {"ios": "id123", "android": "com.x"}
    assert app_ids("id123") == {"": "id123"}
    assert app_ids("") == {}


def test_the_body_fits_1kb_by_leaving_out_the_largest_custom_properties() -> None:
    props = {"revenue": 10, "currency": "USD", "small": "s", "big": "b" * 600, "mid": "m" * 300}
    found = transform().prepare([track("Order Completed", properties=props)], [NOBODY])
    [request] = found.requests
    assert len(request.body) <= 1024
    value = json.loads(json.loads(request.body)["eventValue"])
    assert value == {"af_revenue": "10", "af_currency": "USD", "small": "s", "mid": "m" * 300}


def test_values_are_cut_at_1000_characters_and_left_out_when_they_cannot_fit() -> None:
    assert event_value({"v": "x" * 1500}) == ({}, {"v": "x" * 1000})
    [request] = transform().prepare([track(properties={"v": "x" * 1500})], [NOBODY]).requests
    assert json.loads(request.body)["eventValue"] == ""


def test_missing_names_the_empty_settings() -> None:
    assert transform(dev_key="", app_id="").missing() == [
        "CDP_APPSFLYER_DEV_KEY",
        "CDP_APPSFLYER_APP_ID",
    ]


VERDICTS = [
    (HttpResponse(200, {}, b"ok"), Outcome.SENT, None),
    (HttpResponse(400, {}, b"Bad request"), Outcome.PERMANENT, None),
    (HttpResponse(401, {}, b"Unauthorized"), Outcome.PERMANENT, None),
    (HttpResponse(429, {"Retry-After": "3"}, b""), Outcome.RETRY, 3.0),
    (HttpResponse(500, {}, b""), Outcome.RETRY, None),
    (HttpResponse(503, {}, b""), Outcome.RETRY, None),
    (HttpResponse(404, {}, b""), Outcome.PERMANENT, None),
]


@pytest.mark.parametrize(("response", "outcome", "retry_after"), VERDICTS)
def test_verdict_follows_appsflyers_answers(
    response: HttpResponse, outcome: Outcome, retry_after: float | None
) -> None:
    found = transform().verdict(Request("POST", "u", {}, b"", ("m-1",)), response)
    assert (found.outcome, found.retry_after_seconds) == (outcome, retry_after)
    assert "k3y" not in found.reason


def test_a_401_says_it_is_the_dev_key() -> None:
    found = transform().verdict(Request("POST", "u", {}, b"", ()), HttpResponse(401))
    assert found.reason == BAD_KEY


# Against the stand-in.


@pytest.fixture(scope="module")
def server() -> Iterator[AppsFlyerStandIn]:
    running = AppsFlyerStandIn()
    running.start()
    yield running
    running.stop()  # once: each stop waits for the server's half-second poll


@pytest.fixture
def appsflyer(server: AppsFlyerStandIn) -> AppsFlyerStandIn:
    server.clear()
    return server


HTTP = HttpxSender()  # one connection pool, as a function instance keeps


def send(request: Request) -> HttpResponse:
    return HTTP.send(HttpRequest(request.method, request.url, request.headers,
                                          request.body))  # fmt: skip


def test_every_request_reaches_the_standin_and_every_event_once(
    appsflyer: AppsFlyerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in function_environment(appsflyer.url).items():
        monkeypatch.setenv(name, value)
    af = AppsFlyerTransform(AppsFlyerSettings(), FakeClock(NOW))
    assert af.missing() == []
    events = [track(messageId=f"i-{i}") for i in range(5)]
    events += [track("Order Completed", messageId=f"a-{i}", context=ANDROID,
                     properties={"revenue": i, "currency": "USD"}) for i in range(5)]  # fmt: skip
    events += [track(messageId="no-id", context={**IOS, "externalIds": []})]
    prepared = af.prepare(events, [NOBODY] * len(events))
    assert prepared.skipped == {"no-id": NO_APPSFLYER_ID}
    for request in prepared.requests:
        answer = send(request)
        assert af.verdict(request, answer).outcome is Outcome.SENT, answer.body
    assert appsflyer.refused == [] and appsflyer.dropped == []
    assert sorted(appsflyer.keys()) == sorted(e["messageId"] for e in events[:-1])


def post(appsflyer: AppsFlyerStandIn, payload: Any, **change: Any) -> HttpResponse:
    headers = {"Content-Type": "application/json", "authentication": standin.DEV_KEY}
    headers |= change.pop("headers", {})
    app = change.pop("app", "com.example.cdp")
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    url = f"{appsflyer.url}/inappevent/{app}"
    return HTTP.send(HttpRequest("POST", url, headers, raw))


def valid(**change: Any) -> dict[str, Any]:
    payload = {"appsflyer_id": AF_ID, "eventName": "af_purchase", "af_events_api": "true",
               "eventValue": '{"af_revenue":"6"}',
               "eventTime": "2026-11-22 11:00:00.000"}  # fmt: skip
    return {k: v for k, v in (payload | change).items() if v is not None}


STANDIN_REFUSALS = [
    (valid(appsflyer_id=None), standin.NO_APPSFLYER_ID),
    (valid(eventName=""), standin.NO_EVENT_NAME),
    (valid(eventValue={"af_revenue": "6"}), standin.BAD_EVENT_VALUE),
    (valid(eventValue="{not json"), standin.BAD_EVENT_VALUE),
    (valid(af_events_api=None), standin.NOT_EVENTS_API),
    (valid(eventTime="2026-11-22T11:00:00Z"), standin.BAD_TIME),
    (valid(eventTime=1795345200000), standin.BAD_TIME),
    (valid(advertising_id="not-a-gaid"), standin.BAD_DEVICE_ID.format(key="advertising_id")),
    (valid(eventValue=json.dumps({"v": "x" * 1000})), standin.TOO_LARGE),
]


@pytest.mark.parametrize(("payload", "reason"), STANDIN_REFUSALS)
def test_the_standin_refuses_what_appsflyer_refuses(
    appsflyer: AppsFlyerStandIn, payload: dict[str, Any], reason: str
) -> None:
    answer = post(appsflyer, payload)
    assert answer.status == 400
    assert appsflyer.refused[-1]["reason"] == reason
    assert appsflyer.keys() == []


def test_the_standin_refuses_a_wrong_key_an_unknown_app_and_drops_an_unprefixed_ios_id(
    appsflyer: AppsFlyerStandIn,
) -> None:
    assert post(appsflyer, valid(), headers={"authentication": "wrong"}).status == 401
    assert post(appsflyer, valid(), app="com.other").status == 400
    assert post(appsflyer, valid(), headers={"Content-Type": "text/plain"}).status == 400
    assert [r["reason"] for r in appsflyer.refused] == [
        standin.UNAUTHORIZED,
        standin.UNKNOWN_APP,
        standin.NOT_JSON_TYPE,
    ]
    answer = post(appsflyer, valid(), app="1234567890")
    assert (answer.status, answer.body) == (200, b"ok")  # as AppsFlyer: accepted, not recorded
    assert len(appsflyer.dropped) == 1 and appsflyer.keys() == []


def test_the_standin_fails_on_purpose(appsflyer: AppsFlyerStandIn) -> None:
    appsflyer.fail(status=429, times=1, retry_after=2)
    first = post(appsflyer, valid(), headers={"X-CDP-Message-Id": "m-7"})
    assert (first.status, first.headers.get("retry-after")) == (429, "2")
    assert post(appsflyer, valid(), headers={"X-CDP-Message-Id": "m-7"}).status == 200
    assert appsflyer.keys() == ["m-7"]
