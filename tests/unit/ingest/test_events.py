"""Enrichment table: receivedAt, messageId, string ids, source, clock-skew correction, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.ingest.events import Arrival, TimeBounds, enrich, iso, iso_by_second, scrub
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


MOMENTS = [
    ("whole second", RECEIVED),
    ("milliseconds", datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)),
    ("truncated, not rounded", datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC)),
    ("under a millisecond", datetime(2026, 1, 1, 12, 0, 0, 999, tzinfo=UTC)),
    ("an offset", datetime(2026, 1, 1, 13, 30, 5, 250000, tzinfo=timezone(timedelta(hours=1)))),
    ("a negative offset", datetime(2025, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14)))),
    ("before 1970", datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)),
    ("year 1", datetime(1, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)),
    ("year 9999", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
]


@pytest.mark.parametrize(("case", "moment"), MOMENTS, ids=[c for c, _ in MOMENTS])
def test_iso_by_second_writes_what_iso_writes(case: str, moment: datetime) -> None:
    assert iso_by_second(moment, {}) == iso(moment), case


def test_iso_by_second_formats_each_second_once() -> None:
    seconds: dict[int, str] = {}
    moments = [RECEIVED + timedelta(milliseconds=ms) for ms in (0, 1, 999, 1000, 1999, -1)]
    written = [iso_by_second(m, seconds) for m in moments]
    assert written == [iso(m) for m in moments]
    assert sorted(seconds.values()) == [
        "2026-01-01T11:59:59",
        "2026-01-01T12:00:00",
        "2026-01-01T12:00:01",
    ]
