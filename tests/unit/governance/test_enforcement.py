"""Every finding kind in every mode, against the shipped fintech plan, through ingest as deployed
(the real checks, PII guard and gate): ``allow`` lets the event through unremarked, ``flag``
lets it through with the finding in the message's metadata, ``block`` keeps it in the
failed-events store with the finding named. Modes are set per source: the web source's
override leaves the backend on the shipped default (flag)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.bootstrap import bootstrap
from shared.envelope import decode_push
from shared.governance.plan import KINDS, PLAN_PATH, parse_plan
from shared.ingest.handler import IngestRequest
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher
from shared.topology import EVENTS, FAILED_EVENTS
from tests.unit.ingest.conftest import basic, ingest_settings

WEB = {"platform": "web", "session_id": "s-1"}
PAY = {"amount": 25.0, "type": "deposit", "method": "ach", "currency": "USD"}
# One event per kind, each with that finding only (a web source: session_id is required).
EVENT_OF_KIND: dict[str, dict[str, Any]] = {
    "unplanned_event": {"event": "loan_applied", "properties": WEB},
    "unplanned_property": {"event": "kyc_started", "properties": {**WEB, "colour": "red"}},
    "missing_property": {
        "event": "transaction_initiated",
        "properties": {**WEB, **{k: v for k, v in PAY.items() if k != "method"}},
    },
    "wrong_type": {"event": "transaction_initiated", "properties": {**WEB, **PAY, "amount": "25"}},
    "deprecated_event": {"event": "transaction_succeeded", "properties": {**WEB, "amount": 5.0}},
}


def governed(modes: dict[str, str]) -> tuple[Any, InMemoryPublisher]:
    """Ingest on the shipped plan, with ``modes`` for the web source only."""
    data = PLAN_PATH.read_text()
    plan = parse_plan(data).model_copy(
        update={
            "enforcement": parse_plan(data).enforcement.model_copy(
                update={"sources": {"web": modes}}
            )
        }
    )
    publisher = InMemoryPublisher()
    services = bootstrap(
        ingest_settings(),
        publisher=publisher,
        clock=FakeClock(),
        documents=InMemoryDocumentStore(),
    )
    services.__dict__["plan"] = plan  # the plan this test enforces, before the gate is built
    return services.ingest, publisher


def send(ingest: Any, event: dict[str, Any], key: str = "k-web") -> None:
    body = json.dumps({"batch": [event]}).encode()
    headers = {"content-type": "application/json", **{k.lower(): v for k, v in basic(key).items()}}
    ingest.handle(IngestRequest("/v1/batch", headers, body))


def messages(publisher: InMemoryPublisher, topic: str) -> list[Any]:
    return [
        decode_push({"message": {"data": base64.b64encode(m.data).decode(), "attributes": {}}})
        for m in publisher.on(topic)
    ]


def test_every_kind_has_an_event_with_that_finding_alone() -> None:
    assert set(EVENT_OF_KIND) == set(KINDS)


@pytest.mark.parametrize("mode", ["allow", "flag", "block"])
@pytest.mark.parametrize("kind", sorted(EVENT_OF_KIND))
def test_each_kind_in_each_mode(kind: str, mode: str) -> None:
    ingest, publisher = governed({kind: mode})
    event = {"type": "track", "userId": "u1", "messageId": f"{kind}-{mode}", **EVENT_OF_KIND[kind]}
    send(ingest, event)
    passed = [(e, m.meta) for m in messages(publisher, EVENTS) for e in m.events]
    failed = [f for m in messages(publisher, FAILED_EVENTS) for f in m.events]
    if mode == "block":
        assert passed == []
        [failure] = failed
        assert [(f["kind"], f["mode"]) for f in failure["findings"]] == [(kind, "block")]
        assert json.loads(failure["payload"])["messageId"] == event["messageId"]
        return
    assert failed == []
    [(stored, meta)] = passed
    assert "findings" not in stored
    found = meta.get("findings", {}).get(event["messageId"], [])
    assert [f[0] for f in found] == ([kind] if mode == "flag" else [])


@pytest.mark.parametrize("kind", sorted(EVENT_OF_KIND))
def test_another_sources_override_leaves_the_shipped_default_flag(kind: str) -> None:
    ingest, publisher = governed({kind: "block"})  # web blocks; the backend flags
    properties = {**EVENT_OF_KIND[kind]["properties"], "platform": "server"}
    event = {"type": "track", "userId": "u1", "messageId": "m1", **EVENT_OF_KIND[kind]}
    send(ingest, {**event, "properties": properties}, key="k-backend")
    [message] = messages(publisher, EVENTS)
    assert [f[0] for f in message.meta["findings"]["m1"]] == [kind]


def test_a_refused_events_reason_and_payload_never_quote_a_card() -> None:
    ingest, publisher = governed({})
    send(ingest, {"type": "4111 1111 1111 1111", "userId": "u1", "messageId": "m1"})
    [failure] = [f for m in messages(publisher, FAILED_EVENTS) for f in m.events]
    assert "Unknown event type" in failure["reason"]
    assert "4111" not in failure["reason"] + failure["payload"]
