"""The GA4 forwarder on a fake HTTP sender, and through functions-framework's test client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.bootstrap import Services
from shared.envelope import Envelope
from shared.errors import BackendUnavailable, PermanentError
from shared.ports.clock import FakeClock
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse
from shared.ports.publisher import InMemoryPublisher
from shared.tiering.forwarder import Ga4Forwarder
from shared.topology import FAILED_EVENTS
from tests.fakes import client, fake_services, installed, push_body, unit_settings

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = unit_settings(ga4_measurement_id="G-TEST", ga4_api_secret="shh",
                         ga4_endpoint="http://ga4.local")  # fmt: skip


def pages(anon: str, n: int) -> list[dict[str, Any]]:
    return [{"type": "page", "anonymousId": anon, "messageId": f"{anon}-{i}",
             "timestamp": "2026-11-22T11:59:00Z", "properties": {"url": f"https://x/{i}"}}
            for i in range(n)]  # fmt: skip


def forwarder(responder: Any = None, **overrides: Any) -> tuple[Ga4Forwarder, FakeHttpSender]:
    http = FakeHttpSender(responder)
    settings = SETTINGS.model_copy(update=overrides)
    return Ga4Forwarder(settings, http, FakeClock(NOW)), http


def test_cold_events_become_collect_requests_with_the_secret_in_the_query() -> None:
    f, http = forwarder()
    result = f.handle(Envelope("cold", pages("a1", 30) + pages("a2", 1), {}))
    assert (result.requests, result.events, result.skipped) == (3, 31, 0)
    first = http.requests[0]
    url = urlsplit(first.url)
    assert (url.netloc, url.path) == ("ga4.local", "/mp/collect")
    assert parse_qs(url.query) == {"measurement_id": ["G-TEST"], "api_secret": ["shh"]}
    assert json.loads(first.body)["client_id"] == "a1"


def test_nothing_is_sent_when_ga4_is_not_configured_or_the_message_is_not_cold() -> None:
    f, http = forwarder(ga4_api_secret="")
    assert f.handle(Envelope("cold", pages("a1", 1), {})).requests == 0
    f, http = forwarder()
    assert f.handle(Envelope("events", pages("a1", 1), {})).requests == 0
    assert http.requests == []


def test_5xx_and_429_raise_so_pubsub_redelivers_other_4xx_are_permanent() -> None:
    for status in (429, 503):
        f, _ = forwarder(lambda _r, s=status: HttpResponse(s))
        with pytest.raises(BackendUnavailable):
            f.handle(Envelope("cold", pages("a1", 1), {}))
    f, _ = forwarder(lambda _r: HttpResponse(400))
    with pytest.raises(PermanentError):
        f.handle(Envelope("cold", pages("a1", 1), {}))


def test_an_unreachable_ga4_is_retried_without_the_secret_in_the_error() -> None:
    def down(request: HttpRequest) -> HttpResponse:
        raise BackendUnavailable(f"POST {request.url}: connection refused")

    f, _ = forwarder(down)
    with pytest.raises(BackendUnavailable) as caught:
        f.handle(Envelope("cold", pages("a1", 1), {}))
    assert "shh" not in str(caught.value) and "<api_secret>" in str(caught.value)


def test_with_validation_on_a_refused_payload_is_never_collected() -> None:
    def ga4(request: HttpRequest) -> HttpResponse:
        if "/debug/" in request.url:
            client = json.loads(request.body)["client_id"]
            messages = [{"description": "bad", "validationCode": "VALUE_INVALID"}]
            return HttpResponse(200, body=json.dumps(
                {"validationMessages": messages if client == "a2" else []}).encode())  # fmt: skip
        return HttpResponse(204)

    f, http = forwarder(ga4, ga4_validate=True)
    with pytest.raises(PermanentError, match="refused 1 of 2"):
        f.handle(Envelope("cold", pages("a1", 1) + pages("a2", 1), {}))
    paths = [(urlsplit(r.url).path, json.loads(r.body)["client_id"]) for r in http.requests]
    assert paths == [("/debug/mp/collect", "a1"), ("/mp/collect", "a1"),
                     ("/debug/mp/collect", "a2")]  # fmt: skip


@pytest.fixture
def services() -> Iterator[Services]:
    with installed(fake_services(SETTINGS, FakeClock(NOW))) as built:
        yield built


def push(events: list[dict[str, Any]]) -> dict[str, Any]:
    return push_body(events, kind="cold")


def forwarder_client() -> Any:
    return client("ga4-forwarder")


def test_the_function_acks_what_it_sent_and_500s_on_a_ga4_outage(services: Services) -> None:
    http = services.http
    assert isinstance(http, FakeHttpSender)
    assert forwarder_client().post("/", json=push(pages("a1", 2))).status_code == 200
    assert len(http.requests) == 1
    http._responder = lambda _r: HttpResponse(503)
    assert forwarder_client().post("/", json=push(pages("a1", 2))).status_code == 500


def test_the_function_records_a_refusal_as_a_failed_event(services: Services) -> None:
    http = services.http
    assert isinstance(http, FakeHttpSender)
    http._responder = lambda _r: HttpResponse(403)
    assert forwarder_client().post("/", json=push(pages("a1", 1))).status_code == 200
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [failure] = json.loads(publisher.on(FAILED_EVENTS)[0].data)["events"]
    assert failure["stage"] == "ga4" and "403" in failure["reason"]
