"""Customer.io reporting webhooks mapped to Segment Email-spec track calls (pure table)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.ingest.webhooks import from_customerio

BASE: dict[str, Any] = {"event_id": "e1", "object_type": "email", "timestamp": 1767268800}


@pytest.mark.parametrize(
    ("metric", "name"),
    [
        ("delivered", "Email Delivered"),
        ("opened", "Email Opened"),
        ("clicked", "Email Link Clicked"),
        ("bounced", "Email Bounced"),
        ("unsubscribed", "Unsubscribed"),
    ],
)
def test_metric_names(metric: str, name: str) -> None:
    event = from_customerio({**BASE, "metric": metric, "data": {"customer_id": 7}})
    assert isinstance(event, dict)
    assert (event["type"], event["event"], event["userId"]) == ("track", name, "7")
    assert event["messageId"] == "customerio-e1"  # Customer.io's retries deduplicate
    assert event["timestamp"] == "2026-01-01T12:00:00.000Z"


def test_customer_named_only_in_identifiers() -> None:
    data = {"identifiers": {"id": "u9", "email": "u9@example.com"}, "href": "https://x.test/a"}
    event = from_customerio({**BASE, "metric": "clicked", "data": data})
    assert isinstance(event, dict)
    assert event["userId"] == "u9"
    assert event["context"]["traits"] == {"email": "u9@example.com"}
    assert event["properties"]["link_url"] == "https://x.test/a"


def test_no_customer_leaves_no_user_for_the_rules_to_refuse() -> None:
    event = from_customerio({**BASE, "metric": "opened", "data": {"email_address": "a@b.test"}})
    assert isinstance(event, dict) and event["userId"] is None


@pytest.mark.parametrize("payload", [{"metric": "teleported"}, {"data": "x"}, {}])
def test_unmappable_payloads_give_a_reason(payload: dict[str, Any]) -> None:
    assert isinstance(from_customerio(payload), str)
