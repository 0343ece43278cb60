"""First-touch attribution from an earliest event, the MTU month range and cold-path pricing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.errors import BadRequest
from shared.ports.documents import InMemoryDocumentStore
from shared.tiering.attribution import ATTRIBUTION, find, first_touch, record_missing
from shared.tiering.mtu import cold_path_cost, month_range

URL = "https://app.example.com/pricing?utm_source=news&utm_campaign=nov&utm_medium=email"
TOUCHES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("campaign in context wins over the url",
     {"context": {"campaign": {"name": "spring", "source": "google", "medium": "cpc"}},
      "properties": {"url": URL}},
     {"utm_campaign": "spring", "utm_source": "google", "utm_medium": "cpc",
      "landing_page": URL}),
    ("utm from the landing page's query string", {"properties": {"url": URL}},
     {"utm_campaign": "nov", "utm_source": "news", "utm_medium": "email", "utm_term": None}),
    ("page context (analytics.js)",
     {"context": {"page": {"url": "https://x/", "referrer": "https://t.co/"}}},
     {"landing_page": "https://x/", "referrer": "https://t.co/", "utm_campaign": None}),
    ("path when there is no url", {"properties": {"path": "/blog"}}, {"landing_page": "/blog"}),
    ("referrer property wins", {"properties": {"referrer": "https://a/"},
                                "context": {"page": {"referrer": "https://b/"}}},
     {"referrer": "https://a/"}),
    ("a track first (no page)", {"type": "track", "event": "sign_up"},
     {"landing_page": None, "referrer": None, "first_event_type": "track"}),
]  # fmt: skip


@pytest.mark.parametrize(("event", "expected"), [t[1:] for t in TOUCHES],
                         ids=[t[0] for t in TOUCHES])  # fmt: skip
def test_first_touch(event: dict[str, Any], expected: dict[str, Any]) -> None:
    touch = first_touch("a1", {"type": "page", "timestamp": "2026-11-01T10:00:00Z", **event}, "u1")
    assert {k: touch[k] for k in expected} == expected
    assert (touch["anonymous_id"], touch["user_id"]) == ("a1", "u1")
    assert touch["first_seen"] == "2026-11-01T10:00:00Z"


def test_first_touch_reads_a_json_string_payload() -> None:
    touch = first_touch("a1", json.dumps({"type": "page", "properties": {"url": URL}}))
    assert touch["utm_campaign"] == "nov"


def test_attribution_is_written_once_and_read_in_batches() -> None:
    store = InMemoryDocumentStore()
    first = [
        first_touch(f"a{i}", {"type": "page", "properties": {"url": "/1"}}) for i in range(250)
    ]
    assert record_missing(store, first) == 250
    later = [first_touch("a1", {"type": "page", "properties": {"url": "/2"}})]
    assert record_missing(store, later) == 0
    assert store.get(ATTRIBUTION, "a1")["landing_page"] == "/1"  # type: ignore[index]
    reads = store.reads
    assert len(find(store, [f"a{i}" for i in range(300)])) == 250
    assert store.reads - reads == 300  # two batched reads (200 + 100)


@pytest.mark.parametrize(("month", "start", "end"), [
    ("2026-11", "2026-11-01", "2026-12-01"), ("2026-12", "2026-12-01", "2027-01-01"),
    ("2027-02", "2027-02-01", "2027-03-01")])  # fmt: skip
def test_month_range(month: str, start: str, end: str) -> None:
    low, high = month_range(month)
    assert (low.date().isoformat(), high.date().isoformat()) == (start, end)


@pytest.mark.parametrize("bad", ["November", "2026-13", "2026-11-05", ""])
def test_a_bad_month_is_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        month_range(bad)


def test_cold_path_cost_counts_minimum_billable_sizes() -> None:
    ops = {
        "pubsub_messages": 1_000_000,
        "function_invocations": 2_000_000,
        "bigquery_rows": 3_000_000,
        "cold_events": 3_000_000,
        "ga4_requests": 1_000_000,
    }
    cost = cold_path_cost(ops, cold_bytes=3_000_000 * 600)
    pubsub = 1_000_000 * 1800 * 3 / 1024**4 * 40  # 1.8 KB messages, publish + 2 deliveries
    runs = 2 * 0.40
    streaming = 3_000_000 * 1024 / 1024**3 * 0.05  # rows billed at 1 KB (1,024 bytes) minimum
    storage = 3_000_000 * 600 / 1024**3 * 0.02
    assert cost == pytest.approx(pubsub + runs + streaming + storage)
    assert cold_path_cost({**ops, "pubsub_messages": 0, "bigquery_rows": 0,
                           "function_invocations": 0}, 0) == 0  # fmt: skip
