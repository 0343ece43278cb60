"""Meta Conversions API: the mapping as tables against Meta's documented contract, its limits,
its error answers, and the requests sent for real (httpx) to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Person, Request
from shared.destinations.meta import (
    NO_MATCH_KEY,
    PURCHASE_NEEDS,
    TOO_OLD,
    WEB_NEEDS,
    MetaSettings,
    MetaTransform,
    sha256,
)
from shared.local.standins import meta as standin
from shared.local.standins.meta import MetaStandIn, function_environment
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TS = "2026-11-22T11:00:00.000Z"
WEB = {"library": {"name": "analytics.js"}, "page": {"url": "https://shop.example/p/1"},
       "userAgent": "Mozilla/5.0", "ip": "203.0.113.9"}  # fmt: skip
IOS = {"library": {"name": "analytics-ios"}, "os": {"name": "iOS", "version": "17.4"},
       "app": {"namespace": "com.example.app", "version": "2.1", "build": "210"},
       "device": {"advertisingId": "AD-ID", "adTrackingEnabled": True,
                  "model": "iPhone15,2"}}  # fmt: skip


def transform(**settings: Any) -> MetaTransform:
    values = {"pixel_id": "987", "access_token": "t/k", **settings}
    return MetaTransform(MetaSettings(**values), FakeClock(NOW))


def track(name: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "messageId": "m-1", "userId": "u-1",
            "timestamp": TS, "properties": {}, "context": WEB, **extra}  # fmt: skip


def sent(events: list[dict[str, Any]], people: list[Person] | None = None) -> list[Any]:
    prepared = transform().prepare(events, people or [NOBODY] * len(events))
    assert prepared.refused == {}
    return [e for r in prepared.requests for e in json.loads(r.body)["data"]]


def at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


CASES: list[
    tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
] = [  # (event, person traits, {dotted Meta field: expected}, ) one documented rule each
    (
        track(),
        {},
        {
            "event_id": "m-1",
            "event_time": int(datetime.fromisoformat(TS).timestamp()),
            "event_name": "CompleteRegistration",
            "action_source": "website",
            "event_source_url": "https://shop.example/p/1",
            "user_data.client_user_agent": "Mozilla/5.0",
            "user_data.client_ip_address": "203.0.113.9",
            "user_data.external_id": sha256("u-1"),
        },
    ),
    (
        track(
            "Order Completed", properties={"revenue": 12.5, "currency": "EUR", "order_id": "o-9"}
        ),
        {},
        {
            "event_name": "Purchase",
            "custom_data.value": 12.5,
            "custom_data.currency": "EUR",
            "custom_data.order_id": "o-9",
        },
    ),
    (
        track(
            "Product Viewed",
            properties={"product_id": "p1", "price": 3, "name": "Mug", "category": "Kitchen"},
        ),
        {},
        {
            "event_name": "ViewContent",
            "custom_data.content_ids": ["p1"],
            "custom_data.content_name": "Mug",
            "custom_data.content_category": "Kitchen",
            "custom_data.contents": [{"id": "p1", "quantity": 1, "item_price": 3.0}],
        },
    ),
    (
        track("Products Searched", properties={"query": "mugs"}),
        {},
        {"event_name": "Search", "custom_data.search_string": "mugs"},
    ),
    (
        track("Audience Entered", properties={"audience_key": "churn_risk"}),
        {},
        {"event_name": "Audience Entered churn_risk", "custom_data.audience_key": "churn_risk"},
    ),
    (track("kyc:started! (v2)"), {}, {"event_name": "kyc_started_ _v2_"}),
    (track("x" * 60), {}, {"event_name": "x" * 40}),
    (
        track(properties={"email": "a@b.io", "note": "write to a@b.io", "plan": "pro"}),
        {},
        {"custom_data.email": None, "custom_data.note": None, "custom_data.plan": "pro"},
    ),
    (
        track(properties={"fbc": "fb.1.1554763741205.AbC", "fbp": "fb.1.1558571054389.1098"}),
        {},
        {
            "user_data.fbc": "fb.1.1554763741205.AbC",
            "user_data.fbp": "fb.1.1558571054389.1098",
            "custom_data.fbc": None,
        },
    ),
    (
        track(properties={"action_source": "system_generated"}),
        {},
        {"action_source": "system_generated", "custom_data.action_source": None},
    ),
    (
        track(context={"library": {"name": "analytics-python"}}),
        {},
        {"action_source": "other", "event_source_url": None},
    ),
    (
        track(context=IOS, anonymousId="anon-1"),
        {},
        {
            "action_source": "app",
            "user_data.madid": "AD-ID",
            "user_data.anon_id": "anon-1",
            "app_data.advertiser_tracking_enabled": 1,
        },
    ),
    (track(timestamp="2026-11-22T13:00:00Z"), {}, {"event_time": int(NOW.timestamp())}),
    (
        {"type": "page", "messageId": "m-1", "anonymousId": "a", "timestamp": TS, "context": WEB},
        {},
        {"event_name": "PageView", "user_data.external_id": None},
    ),
]


@pytest.mark.parametrize(("event", "traits", "expected"), CASES)
def test_prepare_maps_segment_fields_to_meta_fields(
    event: dict[str, Any], traits: dict[str, Any], expected: dict[str, Any]
) -> None:
    [found] = sent([event], [Person(traits=traits)])
    assert {path: at(found, path) for path in expected} == expected


HASHES = [  # Meta's own normalisation examples, with the digests its documentation gives
    ({"email": " John_Smith@gmail.com "}, "em",
     "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    ({"phone": "+1 (650)555-1212"}, "ph",
     "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    ({"firstName": " Mary"}, "fn",
     "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ({"last_name": "Valéry"}, "ln",
     "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
]  # fmt: skip
NORMALISED = [
    ({"phone": "0044 20 7946 0958"}, "ph", "442079460958"),
    ({"address": {"city": "San Francisco"}}, "ct", "sanfrancisco"),
    ({"address": {"city": "Saint-Étienne"}}, "ct", "saintétienne"),
    ({"address": {"postalCode": "94035-1234", "country": "US"}}, "zp", "94035"),
    ({"address": {"postalCode": "SW1A 1AA", "country": "GB"}}, "zp", "sw1a1aa"),
    ({"address": {"country": "US"}}, "country", "us"),
    ({"address": {"state": "CA"}}, "st", "ca"),
    ({"gender": "Female"}, "ge", "f"),
    ({"birthday": "1990-02-17"}, "db", "19900217"),
]


@pytest.mark.parametrize(("traits", "key", "digest"), HASHES)
def test_contact_fields_hash_as_metas_examples(traits: Any, key: str, digest: str) -> None:
    [found] = sent([track()], [Person(traits=traits)])
    assert found["user_data"][key] == digest


@pytest.mark.parametrize(("traits", "key", "normal"), NORMALISED)
def test_contact_fields_are_normalised_then_hashed(traits: Any, key: str, normal: str) -> None:
    [found] = sent([track()], [Person(traits=traits)])
    assert found["user_data"][key] == sha256(normal)


def test_the_events_own_traits_win_over_the_profiles() -> None:
    event = track(context={**WEB, "traits": {"email": "new@example.com"}})
    [found] = sent([event], [Person(traits={"email": "old@example.com"})])
    assert found["user_data"]["em"] == sha256("new@example.com")


REFUSED = [
    (track(timestamp=(NOW - timedelta(days=7, minutes=1)).isoformat()), TOO_OLD),
    (track(context={**WEB, "userAgent": None}), WEB_NEEDS),
    (track(context={**WEB, "page": {}}), WEB_NEEDS),
    (track("Order Completed", properties={"revenue": 10}), PURCHASE_NEEDS),
    (track("Order Completed", properties={"currency": "EUR"}), PURCHASE_NEEDS),
    (
        track(userId=None, anonymousId="a", context={"library": {"name": "analytics-node"}}),
        NO_MATCH_KEY,
    ),
]


@pytest.mark.parametrize(("event", "reason"), REFUSED)
def test_what_meta_would_refuse_is_refused_alone(event: dict[str, Any], reason: str) -> None:
    good = track(messageId="m-ok")
    prepared = transform().prepare([event, good], [NOBODY, NOBODY])
    assert prepared.refused == {"m-1": reason}
    assert [r.message_ids for r in prepared.requests] == [("m-ok",)]


def test_a_request_carries_at_most_1000_events() -> None:
    events = [track(messageId=f"m-{i}") for i in range(2500)]
    prepared = transform().prepare(events, [NOBODY] * len(events))
    assert [len(r.message_ids) for r in prepared.requests] == [1000, 1000, 500]
    assert [len(json.loads(r.body)["data"]) for r in prepared.requests] == [1000, 1000, 500]
    assert prepared.requests[2].message_ids[-1] == "m-2499"


def test_the_request_url_body_and_test_event_code() -> None:
    [request] = transform(test_event_code="TEST123").prepare([track()], [NOBODY]).requests
    assert request.method == "POST"
    assert request.url == "https://graph.facebook.com/v25.0/987/events?access_token=t%2Fk"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["test_event_code"] == "TEST123"


def test_missing_names_the_empty_credentials() -> None:
    assert transform(pixel_id="", access_token="").missing() == [
        "CDP_META_PIXEL_ID",
        "CDP_META_ACCESS_TOKEN",
    ]
    assert transform().missing() == []


def error(code: int, **extra: Any) -> bytes:
    return json.dumps({"error": {"message": "m", "type": "OAuthException", "code": code,
                                 "fbtrace_id": "T", **extra}}).encode()  # fmt: skip


VERDICTS = [
    (HttpResponse(200, {}, b'{"events_received": 1}'), Outcome.SENT, None),
    (HttpResponse(400, {}, error(100, error_subcode=2804003)), Outcome.PERMANENT, None),
    (HttpResponse(400, {}, error(190)), Outcome.PERMANENT, None),
    (HttpResponse(400, {}, error(17)), Outcome.RETRY, None),
    (HttpResponse(400, {}, error(613)), Outcome.RETRY, None),
    (HttpResponse(400, {}, error(4)), Outcome.RETRY, None),
    (HttpResponse(500, {}, error(2, is_transient=True)), Outcome.RETRY, None),
    (HttpResponse(400, {}, error(100, is_transient=True)), Outcome.RETRY, None),
    (HttpResponse(429, {"Retry-After": "7"}, b""), Outcome.RETRY, 7.0),
    (HttpResponse(503, {}, b"<html>down</html>"), Outcome.RETRY, None),
    (HttpResponse(403, {}, b"no"), Outcome.PERMANENT, None),
]


@pytest.mark.parametrize(("response", "outcome", "retry_after"), VERDICTS)
def test_verdict_reads_metas_error_body(
    response: HttpResponse, outcome: Outcome, retry_after: float | None
) -> None:
    request = Request("POST", "https://x", {}, b"", ("m-1",))
    found = transform().verdict(request, response)
    assert (found.outcome, found.retry_after_seconds) == (outcome, retry_after)
    assert "t/k" not in found.reason and "t%2Fk" not in found.reason


def test_a_token_error_says_it_is_configuration() -> None:
    found = transform().verdict(
        Request("POST", "u", {}, b"", ()), HttpResponse(400, {}, error(190))
    )
    assert "CDP_META_ACCESS_TOKEN" in found.reason


# Against the stand-in.


@pytest.fixture(scope="module")
def server() -> Iterator[MetaStandIn]:
    running = MetaStandIn(now=lambda: NOW.timestamp())
    running.start()
    yield running
    running.stop()  # once: each stop waits for the server's half-second poll


@pytest.fixture
def meta(server: MetaStandIn) -> MetaStandIn:
    server.clear()
    return server


def test_every_request_reaches_the_standin_and_every_event_once(
    meta: MetaStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in function_environment(meta.url).items():
        monkeypatch.setenv(name, value)
    meta_transform = MetaTransform(MetaSettings(), FakeClock(NOW))
    assert meta_transform.missing() == []
    events = [
        track(
            "Order Completed", messageId=f"w-{i}", properties={"revenue": i + 1, "currency": "USD"}
        )
        for i in range(1203)
    ]
    events += [track("Audience Entered", messageId="ios-1", context=IOS)]  # fmt: skip
    people = [Person(traits={"email": "a@example.com"})] * len(events)
    prepared = meta_transform.prepare(events, people)
    http = HttpxSender()
    for request in prepared.requests:
        answer = http.send(HttpRequest(request.method, request.url, request.headers, request.body))
        assert meta_transform.verdict(request, answer).outcome is Outcome.SENT, answer.body
    assert meta.refused == []
    assert sorted(meta.keys()) == sorted(e["messageId"] for e in events)


def post(meta: MetaStandIn, events: list[dict[str, Any]], path: str = "") -> HttpResponse:
    url = path or f"{meta.url}/v25.0/{standin.PIXEL_ID}/events?access_token={standin.ACCESS_TOKEN}"
    body = json.dumps({"data": events}).encode()
    return HttpxSender().send(HttpRequest("POST", url, {"Content-Type": "application/json"}, body))


def valid() -> dict[str, Any]:
    [event] = sent([track()])
    return dict(event)


def patched(path: str, value: Any) -> dict[str, Any]:
    event = valid()
    head, _, last = path.rpartition(".")
    target = at(event, head) if head else event
    if value is None:
        target.pop(last, None)
    else:
        target[last] = value
    return event


STANDIN_REFUSALS = [
    (patched("user_data.em", "a@example.com"), standin.NOT_HASHED.format(key="em")),
    (patched("user_data.client_ip_address", sha256("1.2.3.4")),
     standin.HASHED_PLAIN.format(key="client_ip_address")),
    (patched("event_time", int(NOW.timestamp() * 1000)), standin.SECONDS),
    (patched("event_time", int(NOW.timestamp()) - 8 * 86400), standin.TOO_OLD),
    (patched("event_source_url", None), standin.WEB_FIELDS),
    (patched("action_source", "web"), standin.BAD_SOURCE),
    (patched("event_name", "Bad/Name!"), standin.NO_EVENT_NAME),
    (patched("event_name", "Purchase"), standin.PURCHASE),
    (patched("action_source", "app"), standin.APP_FIELDS),
    (patched("user_data", {"client_user_agent": "Mozilla/5.0"}), standin.NO_MATCH),
]  # fmt: skip


@pytest.mark.parametrize(("event", "reason"), STANDIN_REFUSALS)
def test_the_standin_refuses_what_meta_refuses(
    meta: MetaStandIn, event: dict[str, Any], reason: str
) -> None:
    answer = post(meta, [valid(), event])
    assert answer.status == 400
    assert json.loads(answer.body)["error"]["code"] == 100
    assert meta.refused[-1]["reason"] == f"data[1]: {reason}"
    assert meta.keys() == []  # the whole request is refused


def test_the_standin_refuses_a_wrong_token_an_unknown_pixel_and_over_1000(
    meta: MetaStandIn,
) -> None:
    wrong = post(meta, [valid()], f"{meta.url}/v25.0/{standin.PIXEL_ID}/events?access_token=x")
    assert json.loads(wrong.body)["error"]["code"] == 190
    pixel = post(
        meta, [valid()], f"{meta.url}/v25.0/555/events?access_token={standin.ACCESS_TOKEN}"
    )
    assert json.loads(pixel.body)["error"]["error_subcode"] == 33
    assert post(meta, [valid()] * 1001).status == 400
    assert post(meta, []).status == 400
    reasons = [r["reason"] for r in meta.refused]
    assert reasons == [standin.BAD_TOKEN, standin.NO_PIXEL.format(pixel="555"), standin.NO_DATA,
                       standin.NO_DATA]  # fmt: skip


def test_the_standin_fails_on_purpose(meta: MetaStandIn) -> None:
    meta.fail(status=500, times=1)
    assert post(meta, [valid()]).status == 500
    assert post(meta, [valid()]).status == 200
    assert meta.keys() == ["m-1"]
