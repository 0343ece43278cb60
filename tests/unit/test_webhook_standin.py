"""The webhook stand-in refuses what the webhook contract forbids, and accepts what the real
destination sends (through a real HTTP client on loopback: no emulator, no internet)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations import webhook
from shared.destinations.backfill import Journey, messages
from shared.destinations.runner import Runner
from shared.destinations.webhook import WebhookSettings, WebhookTransform
from shared.envelope import Envelope, decode_push
from shared.errors import BackendUnavailable
from shared.local.processes import patched_environ
from shared.local.stack_config import StackPorts
from shared.local.webhook_standin import PATH, WebhookStandIn, check, function_environment
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher

SECRET = "s3cret"
PAGE = {"type": "page", "messageId": "m-1", "anonymousId": "a-1", "name": "Home"}
TRACK = {"type": "track", "event": "Signed Up", "messageId": "m-2", "userId": "u-1"}
GOOD = {"batch": [PAGE, TRACK], "sentAt": "2026-01-01T00:00:00Z", "delivery": {"kind": "events"}}
BACKFILL = {**GOOD, "batch": [PAGE], "backfill": {"anonymousId": "a-1", "userId": "u-1"}}


def signed(payload: Any, secret: str = SECRET, **headers: str) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-signature-256": f"sha256={mac}", **headers}, body


def with_event(**changes: Any) -> dict[str, Any]:
    event = {k: v for k, v in {**PAGE, **changes}.items() if v is not None}
    return {**GOOD, "batch": [event]}


def requests() -> list[tuple[str, tuple[dict[str, str], bytes], int, str]]:
    headers, body = signed(GOOD)
    return [
        ("valid", (headers, body), 200, ""),
        ("valid back-fill", signed(BACKFILL), 200, ""),
        ("back-fill of a user-less id", signed({**BACKFILL, "backfill": {"anonymousId": "a-1",
                                                                     "userId": None}}), 200, ""),
        ("JSON with a charset", signed(GOOD, **{"content-type": "application/json; charset=utf-8"}),
         200, ""),
        ("no signature", ({"content-type": "application/json"}, body), 401, "missing"),
        ("signed with another secret", signed(GOOD, "other"), 401, "not the HMAC"),
        ("body changed after signing", (headers, body.replace(b"m-1", b"m-9")), 401, "HMAC"),
        ("bare hex, no sha256= prefix", ({**headers, "x-signature-256":
                                          headers["x-signature-256"][7:]}, body), 401, "HMAC"),
        ("text/plain", signed(GOOD, **{"content-type": "text/plain"}), 400, "Content-Type"),
        ("not JSON", signed(b"{batch"), 400, "not JSON"),
        ("a list", signed([PAGE]), 400, "not a JSON object"),
        ("no batch", signed({"sentAt": GOOD["sentAt"]}), 400, "batch is not"),
        ("empty batch", signed({**GOOD, "batch": []}), 400, "batch is not"),
        ("an event not an object", signed({**GOOD, "batch": ["x"]}), 400, "batch[0]: not an"),
        ("no type", signed(with_event(type=None)), 400, "batch[0]: type"),
        ("unknown type", signed(with_event(type="pageview")), 400, "batch[0]: type"),
        ("no messageId", signed(with_event(messageId=None)), 400, "messageId is missing"),
        ("empty messageId", signed(with_event(messageId="")), 400, "messageId is missing"),
        ("neither id", signed(with_event(anonymousId=None)), 400, "neither userId"),
        ("no sentAt", signed({"batch": [PAGE]}), 400, "sentAt"),
        ("sentAt not a time", signed({**GOOD, "sentAt": "yesterday"}), 400, "sentAt"),
        ("back-fill without its id", signed({**BACKFILL, "backfill": {"userId": "u"}}), 400,
         "backfill is not"),
        ("back-fill of another id's event", signed({**BACKFILL, "batch": [TRACK]}), 400,
         "not the back-filled id"),
    ]  # fmt: skip


@pytest.mark.parametrize(("request_", "status", "reason"), [c[1:] for c in requests()],
                         ids=[c[0] for c in requests()])  # fmt: skip
def test_check(request_: tuple[dict[str, str], bytes], status: int, reason: str) -> None:
    verdict = check(*request_, SECRET)
    assert verdict.status == status and reason in verdict.reason
    assert (verdict.payload is not None) == (status == 200)


def test_without_a_secret_nothing_is_verified() -> None:
    assert check({"content-type": "application/json"}, json.dumps(GOOD).encode(), "").status == 200


@pytest.fixture
def standin() -> Iterator[WebhookStandIn]:
    server = WebhookStandIn(secret=SECRET)
    server.start()
    yield server
    server.stop()


def destination(url: str, secret: str = SECRET, **settings: Any) -> Runner:
    configured = WebhookSettings(url=url, secret=secret, backfill=True, **settings)
    return Runner(
        WebhookTransform(configured, FakeClock()),
        http=HttpxSender(),
        clock=FakeClock(),
        publisher=InMemoryPublisher(),
        documents=InMemoryDocumentStore(),
    )


def live(*events: dict[str, Any]) -> Envelope:
    return Envelope("events", list(events), {"kind": "events"}, message_id="p-1")


def pushed(journey: Journey) -> Envelope:
    """The back-fill message the sweep publishes, as the subscription pushes it."""
    [message] = messages(journey)
    data = base64.b64encode(message.data).decode()
    return decode_push({"message": {"data": data, "attributes": message.attributes,
                                    "messageId": "p-2"}})  # fmt: skip


def test_what_the_real_destination_sends_is_accepted(standin: WebhookStandIn) -> None:
    sender = destination(standin.url, max_events=1)
    assert sender.handle(live(PAGE, TRACK)).requests == 2
    journey = Journey("a-1", "u-1", [json.dumps(PAGE).encode()])
    assert len(sender.handle(pushed(journey)).delivered) == 1
    assert standin.rejected == []
    assert standin.events() == [PAGE, TRACK]
    [backfill] = standin.backfills("a-1")
    assert backfill["backfill"] == {"anonymousId": "a-1", "userId": "u-1"}
    assert backfill["batch"] == [PAGE] and backfill["delivery"]["kind"] == "backfill"
    assert standin.message_ids() == {"m-1", "m-2"}


def test_a_wrong_secret_is_refused_for_good(standin: WebhookStandIn) -> None:
    result = destination(standin.url, secret="not-it").handle(live(PAGE))
    assert result.outcome == "refused" and "401" in result.refused["m-1"]
    [refused] = standin.rejected
    assert refused["status"] == 401 and "HMAC" in refused["reason"] and standin.accepted == []


def test_a_planned_outage_makes_the_sender_retry(standin: WebhookStandIn) -> None:
    standin.fail_next(1, status=503, matching='"u-1"')
    sender = destination(standin.url)
    sender.handle(live(PAGE))  # does not match: accepted
    with pytest.raises(BackendUnavailable, match="503"):
        sender.handle(live(TRACK))
    sender.handle(live(TRACK))  # what Pub/Sub's redelivery does
    assert [e["messageId"] for e in standin.events()] == ["m-1", "m-2"]
    assert [b["batch"] for b in standin.failed_on_purpose] == [[TRACK]]


def test_get_lists_and_other_paths_are_not_found(standin: WebhookStandIn) -> None:
    destination(standin.url).handle(live(PAGE))
    base = standin.url.removesuffix(PATH)
    with urllib.request.urlopen(base + "/", timeout=5) as answer:
        assert json.loads(answer.read())["accepted"][0]["batch"] == [PAGE]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(base + "/other", b"{}"), timeout=5)
    assert refused.value.code == 404


def test_the_function_environment_configures_the_destination() -> None:
    with patched_environ(function_environment("http://127.0.0.1:1/webhook", "k")):
        settings = WebhookSettings()
    assert (settings.url, settings.secret) == ("http://127.0.0.1:1/webhook", "k")
    assert settings.backfill is True


def test_the_header_name_is_the_destinations() -> None:
    assert webhook.SIGNATURE_HEADER.lower() == "x-signature-256"


@pytest.mark.parametrize("ports", [StackPorts.from_base(8500), StackPorts.free()])
def test_the_stack_gives_the_standin_a_port_of_its_own(ports: StackPorts) -> None:
    assert len(set(ports.all())) == len(ports.all()) and ports.webhook in ports.all()
