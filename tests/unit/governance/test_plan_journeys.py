"""What the platform itself sends passes the shipped plan with no finding: the demo's every
call (through a recording SDK client, no HTTP), the seeds' journey, and Customer.io's webhooks
as ingest maps them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.governance.checks import findings
from shared.governance.plan import load_plan
from shared.ingest.webhooks import from_customerio
from shared.local.demo import run_demo

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
STACK = {
    "ingest_url": "http://demo.invalid",
    "write_keys": {s: s for s in ("web", "ios", "android", "backend")},
}
KIND = {"web": "web", "ios": "ios", "android": "android", "backend": "server"}  # dev sources


class Recorder:
    """An SDK client that keeps each call as the event ingest would receive."""

    def __init__(self, source: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.source, self.calls = source, calls

    def __getattr__(self, call: str) -> Any:
        def record(**kwargs: Any) -> None:
            event = {"type": call, **{k: v for k, v in kwargs.items() if k != "timestamp"}}
            self.calls.append((KIND[self.source], event))

        return record

    def flush(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


def demo_calls(seed: int, visitors: int) -> tuple[list[tuple[str, dict[str, Any]]], Counter[str]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    report = run_demo(STACK, visitors, seed, client=lambda key, _h, _r: Recorder(key, calls))
    return calls, report.journeys


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_every_demo_call_passes_the_shipped_plan(seed: int) -> None:
    plan = load_plan()
    calls, journeys = demo_calls(seed, 150)
    assert len(journeys) >= 7  # every kind of journey ran, so every event the demo sends
    found = [(kind, e.get("event"), f) for kind, e in calls for f in findings(plan, e, kind)]
    assert found == []
    tracked = {e["event"] for _, e in calls if e["type"] == "track"}
    assert {"kyc_document_submitted", "transaction_completed", "support_ticket_opened"} <= tracked


def test_the_seeds_journey_passes_the_shipped_plan() -> None:
    """Desktop visit → newsletter identify (the email as typed) → app screen → signup → mobile
    login → a backend transaction, as the seeds tell a fintech to send it."""
    journey = [
        ("web", {"type": "page", "name": "Home", "anonymousId": "aaa"}),
        ("web", {"type": "identify", "anonymousId": "aaa", "traits": {"email": " ADA@X.COM "}}),
        ("ios", {"type": "screen", "name": "Welcome", "anonymousId": "bbb"}),
        (
            "web",
            {"type": "identify", "userId": "u1", "traits": {"email": "ada@x.com", "plan": "free"}},
        ),
        ("ios", {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}),
        ("web", {"type": "alias", "previousId": "aaa", "userId": "u1"}),
        (
            "server",
            {
                "type": "track",
                "userId": "u1",
                "event": "transaction_completed",
                "properties": {
                    "platform": "server",
                    "amount": 42.5,
                    "type": "card",
                    "method": "pos",
                    "currency": "USD",
                },
            },
        ),
    ]
    plan = load_plan()
    assert [f for kind, event in journey for f in findings(plan, event, kind)] == []


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("customerio_*.json")))
def test_customerio_webhook_events_are_planned_platform_events(fixture: Path) -> None:
    event = from_customerio(json.loads(fixture.read_text()))
    assert isinstance(event, dict) and event["event"] in load_plan().platform_events
    assert findings(load_plan(), event, "third_party") == []
