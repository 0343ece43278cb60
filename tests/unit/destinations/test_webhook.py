"""The webhook destination on a fake HTTP sender, and through functions-framework's client."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.destinations.runner import Delivery, Runner
from shared.destinations.webhook import SIGNATURE_HEADER, WebhookSettings, WebhookTransform
from shared.envelope import Envelope, batches
from shared.errors import BackendUnavailable
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender, HttpResponse
from shared.ports.publisher import InMemoryPublisher
from shared.topology import FAILED_EVENTS
from tests.fakes import client, fake_services, installed, push_body, unit_settings

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOOK = {"url": "https://hooks.example.com/cdp", "secret": "s3cret"}


def tracks(user: str, *names: str) -> list[dict[str, Any]]:
    return [{"type": "track", "event": name, "userId": user, "messageId": f"{user}-{i}"}
            for i, name in enumerate(names)]  # fmt: skip


class Hook:
    """The webhook's runner on fakes; ``handle`` answers what one attempt did."""

    def __init__(self, responder: Any = None, **overrides: Any) -> None:
        self.http = FakeHttpSender(responder)
        self.publisher = InMemoryPublisher()
        settings = WebhookSettings(**{**HOOK, **overrides})
        self.runner = Runner(
            WebhookTransform(settings, FakeClock(NOW)),
            http=self.http,
            clock=FakeClock(NOW),
            publisher=self.publisher,
            documents=InMemoryDocumentStore(),
        )

    def handle(self, envelope: Envelope) -> Delivery:
        return self.runner.handle(envelope)


def destination(responder: Any = None, **overrides: Any) -> tuple[Hook, FakeHttpSender]:
    hook = Hook(responder, **overrides)
    return hook, hook.http


def sent(http: FakeHttpSender) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in http.requests]


def test_events_are_posted_as_one_signed_segment_batch() -> None:
    hook, http = destination()
    result = hook.handle(Envelope("events", tracks("u1", "kyc_started", "card_activated"), {},
                                  message_id="m-7"))  # fmt: skip
    assert (result.requests, len(result.delivered), result.filtered) == (1, 2, 0)
    [request] = http.requests
    assert (request.method, request.url) == ("POST", "https://hooks.example.com/cdp")
    assert request.headers["Content-Type"] == "application/json"
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    body = json.loads(request.body)
    assert [e["messageId"] for e in body["batch"]] == ["u1-0", "u1-1"]
    assert body["sentAt"] == "2026-11-22T12:00:00Z"
    assert body["delivery"] == {"message": "m-7", "kind": "events"}
    assert "backfill" not in body


def test_without_a_secret_nothing_is_signed() -> None:
    hook, http = destination(secret="")
    hook.handle(Envelope("events", tracks("u1", "a"), {}))
    assert SIGNATURE_HEADER not in http.requests[0].headers


def test_large_messages_are_split_at_max_events() -> None:
    hook, http = destination(max_events=2)
    result = hook.handle(Envelope("events", tracks("u1", *"abcde"), {}))
    assert result.requests == 3
    assert [len(b["batch"]) for b in sent(http)] == [2, 2, 1]


def test_the_filter_and_consent_keep_events_back() -> None:
    hook, http = destination(events=["kyc_started"], consent_category="marketing")
    refused = {**tracks("u2", "kyc_started")[0],
               "context": {"consent": {"categoryPreferences": {"marketing": False}}}}  # fmt: skip
    events = [*tracks("u1", "kyc_started", "card_activated"), refused]
    result = hook.handle(Envelope("events", events, {}))
    assert (len(result.delivered), result.filtered) == (1, 2)
    assert [e["messageId"] for e in sent(http)[0]["batch"]] == ["u1-0"]


def test_nothing_left_after_filtering_sends_nothing() -> None:
    hook, http = destination(event_types=["identify"])
    assert hook.handle(Envelope("events", tracks("u1", "a"), {})).requests == 0
    assert http.requests == []


def test_an_unconfigured_webhook_sends_nothing() -> None:
    hook, http = destination(url="")
    assert hook.handle(Envelope("events", tracks("u1", "a"), {})).requests == 0
    assert http.requests == []


@pytest.mark.parametrize(("opted_in", "requests"), [(True, 1), (False, 0)])
def test_backfills_go_only_where_opted_in(opted_in: bool, requests: int) -> None:
    hook, http = destination(backfill=opted_in)
    pages = [{"type": "page", "anonymousId": "a1", "messageId": "a1-p0"}]
    meta = {"anonymousId": "a1", "userId": "u1", "consent": {}}
    backfill = Envelope("backfill", pages, {"kind": "backfill"}, meta=meta)
    assert hook.handle(backfill).requests == requests
    if requests:
        body = sent(http)[0]
        assert body["backfill"] == {"anonymousId": "a1", "userId": "u1"}
        assert body["delivery"]["kind"] == "backfill"


@pytest.mark.parametrize(("consent", "requests"),
                         [({"marketing": False}, 0), ({"marketing": True}, 1), ({}, 1),
                          ("not an object", 1)])  # fmt: skip
def test_a_backfill_follows_the_persons_consent(consent: Any, requests: int) -> None:
    hook, http = destination(backfill=True, consent_category="marketing")
    pages = [{"type": "page", "anonymousId": "a1", "messageId": "a1-p0"}]
    meta = {"anonymousId": "a1", "userId": "u1", "consent": consent}
    result = hook.handle(Envelope("backfill", pages, {"kind": "backfill"}, meta=meta))
    assert (result.requests, result.filtered) == (requests, 1 - requests)
    assert len(http.requests) == requests


def test_other_kinds_are_not_sent() -> None:
    hook, http = destination(backfill=True)
    hook.handle(Envelope("cold", [{"type": "page", "anonymousId": "a1"}], {}))
    hook.handle(Envelope("failed", [{"failedId": "x"}], {}))
    assert http.requests == []


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_a_retryable_answer_raises_for_redelivery(status: int) -> None:
    hook, _ = destination(lambda _r: HttpResponse(status))
    with pytest.raises(BackendUnavailable, match=str(status)):
        hook.handle(Envelope("events", tracks("u1", "a"), {}))


@pytest.mark.parametrize("status", [400, 401, 404, 413])
def test_a_refusal_is_recorded_as_failed_events_and_acknowledged(status: int) -> None:
    hook, _ = destination(lambda _r: HttpResponse(status, body=b"no thanks"))
    result = hook.handle(Envelope("events", tracks("u1", "a", "b"), {}))
    assert result.outcome == "refused" and set(result.refused) == {"u1-0", "u1-1"}
    [failures] = [json.loads(m.data)["events"] for m in hook.publisher.on(FAILED_EVENTS)]
    assert [f["messageId"] for f in failures] == ["u1-0", "u1-1"]
    assert all("no thanks" in f["reason"] for f in failures)
    assert json.loads(failures[0]["payload"])["event"] == "a"  # replayable from here


def test_a_refused_request_does_not_stop_the_next_one() -> None:
    answers = iter([HttpResponse(400, body=b"bad"), HttpResponse(200)])
    hook, http = destination(lambda _r: next(answers), max_events=1)
    result = hook.handle(Envelope("events", tracks("u1", "a", "b"), {}))
    assert (set(result.refused), result.delivered, len(http.requests)) == ({"u1-0"}, {"u1-1"}, 2)


def test_a_redelivery_sends_only_what_the_first_attempt_did_not() -> None:
    answers = iter([HttpResponse(200), HttpResponse(503)])
    hook, http = destination(lambda _r: next(answers, HttpResponse(200)), max_events=1)
    message = Envelope("events", tracks("u1", "a", "b"), {}, message_id="m-9")
    with pytest.raises(BackendUnavailable):
        hook.handle(message)
    again = hook.handle(message)  # Pub/Sub redelivers the whole message
    assert (again.already, again.delivered) == (1, {"u1-1"})
    assert [json.loads(r.body)["batch"][0]["messageId"] for r in http.requests] == [
        "u1-0",
        "u1-1",
        "u1-1",
    ]


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("CDP_WEBHOOK_URL", HOOK["url"])
    monkeypatch.setenv("CDP_WEBHOOK_SECRET", HOOK["secret"])
    settings = unit_settings(destinations=["webhook"], function="destination-webhook")
    with installed(fake_services(settings, FakeClock(NOW))) as s:
        yield s


def test_the_function_acks_sent_events_and_500s_on_an_outage(services: Services) -> None:
    http = services.http
    assert isinstance(http, FakeHttpSender)
    function = client("destination-webhook")
    assert function.post("/", json=push_body(tracks("u1", "a", "b"))).status_code == 200
    assert [len(b["batch"]) for b in sent(http)] == [2]
    http._responder = lambda _r: HttpResponse(503)
    assert function.post("/", json=push_body(tracks("u2", "a"))).status_code == 500


def test_the_function_reports_each_attempt(services: Services) -> None:
    assert (
        client("destination-webhook").post("/", json=push_body(tracks("u1", "a"))).status_code
        == 200
    )
    [row] = services.warehouse.list_rows("cdp_ops.deliveries")
    assert (row["destination"], row["outcome"], row["delivered"]) == ("webhook", "delivered", 1)


@pytest.mark.parametrize(
    ("sizes", "max_events", "max_bytes", "groups"),
    [([], 100, 1000, []),
     ([10, 10, 10], 100, 1000, [3]),
     ([10, 10, 10], 2, 1000, [2, 1]),
     ([400, 400, 400], 100, 1000, [2, 1]),  # 401 + 401 fits 1000, a third does not
     ([2000, 10], 100, 1000, [1, 1]),  # bigger than the cap: alone, never dropped
     ([10] * 5, 0, 1000, [1] * 5)],  # a cap below one still sends every event
)  # fmt: skip
def test_batches(sizes: list[int], max_events: int, max_bytes: int, groups: list[int]) -> None:
    events = [b"x" * n for n in sizes]
    found = batches(events, max_events, max_bytes)
    assert [len(g) for g in found] == groups
    assert [e for g in found for e in g] == events  # in order, each once


def test_requests_stay_under_the_byte_cap() -> None:
    hook, http = destination(max_bytes=4096)
    big = [{**e, "properties": {"blob": "y" * 1500}} for e in tracks("u1", *"abcdef")]
    assert hook.handle(Envelope("events", big, {})).requests == 3
    bodies = sent(http)
    assert [len(b["batch"]) for b in bodies] == [2, 2, 2]
    assert [e["messageId"] for b in bodies for e in b["batch"]] == [f"u1-{i}" for i in range(6)]
