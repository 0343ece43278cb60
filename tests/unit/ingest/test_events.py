"""Enrichment table: receivedAt, messageId, string ids, source, clock-skew correction, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.ingest.events import Arrival, TimeBounds, enrich, scrub
from shared.ingest.rules import Limits, check
from shared.settings import Source

RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SOURCE = Source(id="ios", name="iOS app", kind="ios", write_key_sha256="0" * 64)
BOUNDS = TimeBounds(future=timedelta(days=1), past=timedelta(days=5 * 365))
LIMITS = Limits(32 * 1024, 16)


def run(event: dict[str, Any], sent_at: datetime | None = None) -> dict[str, Any]:
    call = check(event)
    assert isinstance(call, dict), call
    return enrich(event, call, Arrival.of(SOURCE, RECEIVED, sent_at, BOUNDS))


BASE = {"type": "track", "event": "card_activated", "userId": "u1"}


@pytest.mark.parametrize(
    ("fields", "sent_at", "timestamp", "original"),
    [
        # device clock 1 h fast: the event happened 10 s before it was sent
        (
            {"timestamp": "2026-01-01T13:00:00Z"},
            datetime(2026, 1, 1, 13, 0, 10, tzinfo=UTC),
            "2026-01-01T11:59:50.000Z",
            "2026-01-01T13:00:00Z",
        ),
        # sentAt on the event itself (browser SDK) wins over the batch's
        (
            {"timestamp": "2026-01-01T08:00:00Z", "sentAt": "2026-01-01T08:00:01Z"},
            None,
            "2026-01-01T11:59:59.000Z",
            "2026-01-01T08:00:00Z",
        ),
        # no sentAt: the device's time is taken as it is
        ({"timestamp": "2026-01-01T11:00:00+01:00"}, None, "2026-01-01T10:00:00.000Z", None),
        # no time at all: receivedAt
        ({}, None, "2026-01-01T12:00:00.000Z", None),
        # a mobile SDK's originalTimestamp is the device's time, whatever else came
        (
            {"originalTimestamp": "2026-01-01T11:00:00Z", "timestamp": "2026-01-01T11:30:00Z"},
            datetime(2026, 1, 1, 11, 0, 5, tzinfo=UTC),
            "2026-01-01T11:59:55.000Z",
            "2026-01-01T11:00:00Z",
        ),
        # a naive time means UTC
        ({"originalTimestamp": "2026-01-01T11:30:00"}, None, "2026-01-01T11:30:00.000Z", None),
        # far future, even after correction: receivedAt (what it said is kept, as it said it)
        (
            {"timestamp": "2099-01-01T00:00:00Z"},
            None,
            "2026-01-01T12:00:00.000Z",
            "2099-01-01T00:00:00Z",
        ),
        # far past: receivedAt
        (
            {"timestamp": "1970-01-01T00:00:00Z"},
            None,
            "2026-01-01T12:00:00.000Z",
            "1970-01-01T00:00:00Z",
        ),
        # clocks thousands of years apart: no overflow, receivedAt
        (
            {"timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"},
            None,
            "2026-01-01T12:00:00.000Z",
            "9999-12-31T23:59:59Z",
        ),
    ],
)
def test_timestamp(
    fields: dict[str, Any], sent_at: datetime | None, timestamp: str, original: str | None
) -> None:
    out = run({**BASE, **fields}, sent_at)
    assert out["timestamp"] == timestamp
    assert out["receivedAt"] == "2026-01-01T12:00:00.000Z"
    if original:
        assert out["originalTimestamp"] == original


def test_ids_become_strings_and_a_message_id_is_assigned() -> None:
    out = run({"type": "group", "userId": 42, "groupId": 7, "anonymousId": None})
    assert (out["userId"], out["groupId"], out["anonymousId"]) == ("42", "7", None)
    assert out["messageId"].startswith("cdp-")
    assert (out["sourceId"], out["sourceName"]) == ("ios", "iOS app")


def test_existing_message_id_and_every_other_field_are_kept() -> None:
    event = {**BASE, "messageId": "m-1", "properties": {"a": [1, {"b": None}]}, "x": "y"}
    out = run(event)
    assert {k: out[k] for k in event} == event


def test_scrub_drops_nul_and_replaces_lone_surrogates() -> None:
    assert scrub({"a\x00b": ["x\x00y", "\ud800z", 1, None]}) == {"ab": ["xy", "\ufffdz", 1, None]}
    assert scrub({"emoji": "😀", "rtl": "שלום"}) == {"emoji": "😀", "rtl": "שלום"}


def test_identify_traits_only_in_context_are_lifted_to_the_top() -> None:
    out = run({"type": "identify", "userId": "u1", "context": {"traits": {"plan": "pro"}}})
    assert out["traits"] == {"plan": "pro"}
    assert out["context"]["traits"] == {"plan": "pro"}
    own = run(
        {"type": "identify", "userId": "u1", "traits": {"a": 1}, "context": {"traits": {"b": 2}}}
    )
    assert own["traits"] == {"a": 1}
