"""The governance stop at ingest, with small fakes of its three ports (plan checks, PII guard,
suppression): what flows on, what is blocked with which findings, what a replay re-enters, and
the violation rows the loader writes from it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.envelope import decode_push
from shared.governance.checks import Finding
from shared.governance.gate import BLOCKED, PASS, SUPPRESSED, Found, Gate, findings_meta
from shared.ingest.handler import IngestHandler, IngestRequest
from shared.ports.clock import FakeClock
from shared.ports.publisher import InMemoryPublisher
from shared.topology import EVENTS, FAILED_EVENTS
from shared.warehouse.loader import WarehouseLoader
from shared.warehouse.rows import failed_row
from tests.unit.ingest.conftest import basic, ingest_settings


@dataclass
class Plan:
    version: int = 7
    modes: dict[str, dict[str, str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def modes_for(self, source_id: str) -> Mapping[str, str]:
        self.asked.append(source_id)
        return self.modes.get(source_id, {})


def check(plan: Any, event: Mapping[str, Any], source_kind: str) -> list[Finding]:
    """A plan of one event, ``transaction_completed``, which needs ``amount``."""
    name = str(event.get("event"))
    if event.get("type") != "track":
        return []
    if name != "transaction_completed":
        return [Finding("unplanned_event", name)]
    if "amount" not in (event.get("properties") or {}):
        return [Finding("missing_property", name, "amount", f"required ({source_kind})")]
    return []


@dataclass(frozen=True)
class Detection:
    cls: str
    path: str


@dataclass(frozen=True)
class Inspected:
    event: dict[str, Any]
    detections: tuple[Detection, ...]
    blocked: bool


class Guard:
    """Masks the value ``4111111111111111`` wherever it is at the top of ``properties``;
    blocks when the property is called ``ssn``."""

    CARD = "4111111111111111"

    def inspect(self, event: dict[str, Any], text: bytes | None = None) -> Inspected:
        props = event.get("properties") or {}
        found = tuple(
            Detection("card", f"properties.{k}") for k, v in props.items() if v == self.CARD
        )
        found += tuple(Detection("national_id", "properties.ssn") for k in props if k == "ssn")
        if not found:
            return Inspected(event, (), False)
        masked = {k: ("****1111" if v == self.CARD else v) for k, v in props.items()}
        return Inspected(
            {**event, "properties": masked}, found, any(d.cls != "card" for d in found)
        )

    def scrub(self, value: Any) -> Any:
        return json.loads(json.dumps(value).replace(self.CARD, "****1111"))

    def clear(self, text: bytes) -> bool:
        self.bodies = [*getattr(self, "bodies", []), text]
        return self.CARD.encode() not in text and b"ssn" not in text


@dataclass
class Suppressed:
    user_ids: set[str]

    def suppressed(self, event: Mapping[str, Any]) -> bool:
        return event.get("userId") in self.user_ids


def handler(gate: Gate) -> tuple[IngestHandler, InMemoryPublisher]:
    publisher = InMemoryPublisher()
    return IngestHandler(ingest_settings(), publisher, FakeClock(), gate=gate), publisher


def send(ingest: IngestHandler, *events: dict[str, Any], key: str = "k-web") -> Any:
    body = json.dumps({"batch": list(events)}).encode()
    headers = {"content-type": "application/json", **{k.lower(): v for k, v in basic(key).items()}}
    return ingest.handle(IngestRequest("/v1/batch", headers, body))


def published(publisher: InMemoryPublisher, topic: str) -> list[Any]:
    return [decode_push({"message": {"data": _b64(m.data), "attributes": m.attributes}})
            for m in publisher.on(topic)]  # fmt: skip


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def track(mid: str, name: str = "transaction_completed", **props: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": "u1", "messageId": mid, "properties": props}


def full_gate(modes: dict[str, dict[str, str]] | None = None) -> Gate:
    return Gate(Plan(modes=modes or {}), check, Guard(), Suppressed({"gone"}))


# (source key, event, expected outcome, kinds found)
CASES = [
    ("k-web", track("m1", amount=5), PASS, []),
    ("k-web", track("m2"), PASS, ["missing_property"]),  # flag by default
    ("k-web", track("m3", "sign_in"), PASS, ["unplanned_event"]),
    ("k-backend", track("m4"), BLOCKED, ["missing_property"]),  # backend blocks it
    ("k-backend", track("m5", "sign_in"), PASS, []),  # backend allows unplanned events
    ("k-web", track("m6", amount=5, ssn="x"), BLOCKED, ["pii_national_id"]),
    ("k-web", {**track("m7", amount=5), "userId": "gone"}, SUPPRESSED, []),
]
MODES = {"backend": {"missing_property": "block", "unplanned_event": "allow"}}


@pytest.mark.parametrize(("key", "event", "outcome", "kinds"), CASES)
def test_each_outcome_and_where_the_event_goes(
    key: str, event: dict[str, Any], outcome: str, kinds: list[str]
) -> None:
    ingest, publisher = handler(full_gate(MODES))
    result = send(ingest, event, key=key)
    events = [e for m in published(publisher, EVENTS) for e in m.events]
    failures = [e for m in published(publisher, FAILED_EVENTS) for e in m.events]
    if outcome == PASS:
        assert [e["messageId"] for e in events] == [event["messageId"]]
        meta = published(publisher, EVENTS)[0].meta
        found = meta.get("findings", {}).get(event["messageId"], [])
        assert [f[0] for f in found] == kinds
        assert all("findings" not in e for e in events)  # metadata, never in the event
        assert result.flagged == (1 if kinds else 0)
    elif outcome == BLOCKED:
        [failure] = failures
        assert [f["kind"] for f in failure["findings"]] == kinds
        assert all(k in failure["reason"] for k in kinds)
        assert json.loads(failure["payload"])["messageId"] == event["messageId"]
        assert events == []
    else:
        assert (events, failures, result.suppressed) == ([], [], 1)


def test_a_card_is_masked_before_anything_is_published_and_flagging_still_happens() -> None:
    ingest, publisher = handler(full_gate())
    send(ingest, track("m1", note=Guard.CARD))  # no amount: flagged
    [message] = published(publisher, EVENTS)
    assert Guard.CARD not in json.dumps(message.events)
    assert message.events[0]["properties"]["note"] == "****1111"
    assert message.meta["findings"] == {
        "m1": [["missing_property", "transaction_completed", "amount"]]
    }
    assert message.meta["plan_version"] == 7


def test_an_invalid_event_is_kept_as_sent_but_scrubbed() -> None:
    ingest, publisher = handler(full_gate())
    send(
        ingest, {"type": "track", "event": "x", "messageId": "m1", "properties": {"c": Guard.CARD}}
    )
    [failure] = [e for m in published(publisher, FAILED_EVENTS) for e in m.events]
    assert "neither userId nor anonymousId" in failure["reason"]
    assert Guard.CARD not in failure["payload"]
    assert "****1111" in failure["payload"]


def test_reenter_keeps_message_id_received_at_and_source_and_applies_the_current_plan() -> None:
    blocking = full_gate({"web": {"missing_property": "block"}})
    ingest, publisher = handler(blocking)
    send(ingest, track("m1"))
    [failure] = [e for m in published(publisher, FAILED_EVENTS) for e in m.events]
    payload = json.loads(failure["payload"])
    fixed, again = handler(full_gate())  # the plan now flags instead of blocking
    source = next(s for s in ingest_settings().sources if s.id == failure["sourceId"])
    result = fixed.reenter(source, [payload])
    [event] = [e for m in published(again, EVENTS) for e in m.events]
    assert (result.accepted, result.flagged) == (1, 1)
    for key in ("messageId", "receivedAt", "timestamp", "sourceId"):
        assert event[key] == payload[key]


def test_modes_are_read_once_per_source_not_per_event() -> None:
    plan = Plan()
    ingest, _ = handler(Gate(plan, check))
    send(ingest, track("m1"), track("m2"), track("m3"))
    send(ingest, track("m4"))
    assert plan.asked == ["web"]


def test_without_governance_nothing_changes() -> None:
    ingest, publisher = handler(Gate())
    send(ingest, track("m1", note=Guard.CARD))
    [message] = published(publisher, EVENTS)
    assert message.meta == {}
    assert message.events[0]["properties"]["note"] == Guard.CARD


def test_findings_meta_is_empty_when_nothing_was_flagged() -> None:
    assert findings_meta([("m1", ())], 3) == {}
    found = (Found("wrong_type", "e", "p"),)
    assert findings_meta([("m1", found), ("m2", ())], 3) == {
        "findings": {"m1": [["wrong_type", "e", "p"]]},
        "plan_version": 3,
    }


class Rows:
    """A warehouse fake keeping rows per table and their insertIds."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def insert_rows(self, table: str, rows: list[dict[str, Any]], row_ids: list[str]) -> list[Any]:
        for row, row_id in zip(rows, row_ids, strict=True):
            kept = self.tables.setdefault(table, [])
            if all(r["_id"] != row_id for r in kept):  # insertId dedup
                kept.append({**row, "_id": row_id})
        return []


def test_the_loader_writes_one_violation_row_per_finding_flagged_or_blocked() -> None:
    ingest, publisher = handler(full_gate({"web": {"unplanned_event": "block"}}))
    send(ingest, track("m1"), track("m2", "sign_in"))
    rows = Rows()
    loader = WarehouseLoader(ingest_settings(), rows, InMemoryPublisher(), FakeClock())  # type: ignore[arg-type]
    for envelope in published(publisher, EVENTS) + published(publisher, FAILED_EVENTS):
        loader.handle(envelope)
        loader.handle(envelope)  # redelivered: the same rows
    violations = rows.tables["cdp_ops.violation_events"]
    assert sorted(
        (v["message_id"], v["kind"], v["mode"], v["plan_version"]) for v in violations
    ) == [
        ("m1", "missing_property", "flag", 7),
        ("m2", "unplanned_event", "block", 7),
    ]
    [failed] = rows.tables["cdp_ops.failed_events"]
    assert json.loads(failed["findings"])[0]["kind"] == "unplanned_event"


def test_a_failed_row_without_findings_has_none() -> None:
    assert failed_row({"failedId": "f", "reason": "r"}, "2026-01-01T00:00:00Z")["findings"] is None


class Counting(Guard):
    inspected = 0

    def inspect(self, event: dict[str, Any], text: bytes | None = None) -> Inspected:
        self.inspected += 1
        return super().inspect(event, text)


@pytest.mark.parametrize(
    ("props", "inspected"),
    [
        ({"amount": 5}, 0),  # a clean body: one look at the body, no event inspected
        ({"amount": 5, "note": Guard.CARD}, 2),  # something in it: every event inspected
        ({"amount": 5, "note": "café"}, 0),  # an escape in the body: the events show é
        ({"amount": 4.5e16}, 0),
    ],
)
def test_a_clean_request_spares_every_event_its_inspection(
    props: dict[str, Any], inspected: int
) -> None:
    guard = Counting()
    ingest, _ = handler(Gate(Plan(), check, guard))
    body = json.dumps({"batch": [track("m1", **props), track("m2", amount=1)]})
    headers = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in basic("k-web").items()},
    }
    ingest.handle(IngestRequest("/v1/batch", headers, body.encode()))
    assert guard.inspected == inspected


def test_a_hex_id_with_4e5_in_it_is_no_exponent() -> None:
    guard = Counting()
    ingest, _ = handler(Gate(Plan(), check, guard))
    body = json.dumps({"batch": [track("m-4e5f-12", amount=5)]})
    headers = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in basic("k-web").items()},
    }
    ingest.handle(IngestRequest("/v1/batch", headers, body.encode()))
    assert guard.inspected == 0


def test_a_card_hidden_in_the_bodys_escapes_is_seen_in_the_event() -> None:
    """The pre-scan reads the events as they will be stored, not the body as it was sent."""
    guard = Counting()
    ingest, publisher = handler(Gate(Plan(), check, guard))
    escaped = "".join(f"\\u{ord(c):04x}" for c in Guard.CARD)
    event = json.dumps(track("m1", amount=5, note="X")).replace('"X"', f'"{escaped}"')
    body = '{"batch": [' + event + "]}"
    headers = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in basic("k-web").items()},
    }
    ingest.handle(IngestRequest("/v1/batch", headers, body.encode()))
    assert guard.inspected == 1
    [message] = published(publisher, EVENTS)
    assert message.events[0]["properties"]["note"] == "****1111"


def test_a_suppressed_persons_invalid_event_is_kept_nowhere() -> None:
    ingest, publisher = handler(full_gate())
    result = send(ingest, {"type": "track", "userId": "gone", "messageId": "m1"})  # no event
    assert (result.suppressed, publisher.on(FAILED_EVENTS)) == (1, [])
    send(ingest, {"type": "track", "userId": "u1", "messageId": "m2"})
    assert len(publisher.on(FAILED_EVENTS)) == 1  # anyone else's is kept, as before
