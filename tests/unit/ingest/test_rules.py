"""Validation table: what real SDKs send passes; what cannot be an event fails with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.ingest.rules import (
    EVENT_TOO_LARGE,
    NO_IDENTITY,
    NOT_OBJECT,
    TOO_DEEP,
    Limits,
    check,
    check_all,
    check_stored,
)
from shared.ingest.spec import Call

LIMITS = Limits(max_event_bytes=32 * 1024, max_depth=16)


def verdict(event: Any) -> Call | str:
    """Both passes, as the handler runs them (on the event itself, standing for its enriched
    form, which adds only top-level fields)."""
    checked = check(event)
    if isinstance(checked, str):
        return checked
    return check_stored(event, LIMITS, json.dumps(event).encode()) or checked


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


TOLERATED: list[tuple[str, dict[str, Any]]] = [
    ("anonymousId null", {"type": "track", "event": "e", "userId": "u", "anonymousId": None}),
    ("numeric userId", {"type": "identify", "userId": 42}),
    ("traits only in context", {"type": "identify", "anonymousId": "a", "context": {"traits": {}}}),
    ("Z timestamp", {"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00Z"}),
    (
        "offset, ms",
        {"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00.123+00:00"},
    ),
    ("no ms", {"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00+02:00"}),
    ("micros", {"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00.123456"}),
    ("extra fields", {"type": "screen", "userId": "u", "_metadata": {"a": 1}, "channel": "mobile"}),
    ("properties null", {"type": "track", "event": "e", "userId": "u", "properties": None}),
    ("numeric groupId", {"type": "group", "userId": "u", "groupId": 7}),
    ("deep but allowed", {"type": "track", "event": "e", "userId": "u", "properties": nested(15)}),
    ("unicode", {"type": "track", "event": "überweisung_✓", "userId": "ユーザー"}),
]

REFUSED: list[tuple[str, Any, str]] = [
    ("not an object", ["track"], NOT_OBJECT),
    ("unknown type", {"type": "launch", "userId": "u"}, "Unknown event type 'launch'"),
    ("no type", {"userId": "u"}, "Unknown event type None"),
    ("no identity", {"type": "track", "event": "e"}, NO_IDENTITY),
    ("empty ids", {"type": "track", "event": "e", "userId": "", "anonymousId": None}, NO_IDENTITY),
    ("object id", {"type": "identify", "userId": {"id": 1}}, "userId"),
    ("boolean id", {"type": "identify", "anonymousId": True}, "anonymousId"),
    ("track without event", {"type": "track", "userId": "u"}, "event"),
    ("track empty event", {"type": "track", "userId": "u", "event": ""}, "event"),
    (
        "properties a string",
        {"type": "track", "event": "e", "userId": "u", "properties": "x"},
        "properties",
    ),
    ("bad timestamp", {"type": "page", "anonymousId": "a", "timestamp": "yesterday"}, "timestamp"),
    ("alias without previousId", {"type": "alias", "userId": "u"}, "previousId"),
    ("group without groupId", {"type": "group", "userId": "u"}, "groupId"),
    (
        "too deep",
        {"type": "track", "event": "e", "userId": "u", "properties": nested(16)},
        TOO_DEEP.format(limit=16),
    ),
]


@pytest.mark.parametrize(("case", "event"), TOLERATED, ids=[c for c, _ in TOLERATED])
def test_what_real_sdks_send_passes(case: str, event: dict[str, Any]) -> None:
    assert isinstance(verdict(event), dict), case


@pytest.mark.parametrize(("case", "event", "reason"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_what_cannot_be_an_event_fails_with_a_reason(case: str, event: Any, reason: str) -> None:
    problem = verdict(event)
    assert isinstance(problem, str), case
    assert reason in problem


def test_size_as_stored_over_the_limit_fails() -> None:
    event = {"type": "identify", "userId": "u"}
    padded = b" " * (32 * 1024)
    assert check_stored(event, LIMITS, padded) is None
    too_large = EVENT_TOO_LARGE.format(limit=32 * 1024)
    assert check_stored(event, LIMITS, padded + b" ") == too_large


def test_depth_is_walked_only_when_there_are_enough_brackets() -> None:
    deep = {"type": "track", "event": "e", "userId": "u", "properties": nested(16)}
    assert isinstance(check(deep), dict)  # the spec does not look at depth
    assert check_stored(deep, LIMITS, b"{" * 15) is None  # too few brackets: no walk
    assert check_stored(deep, LIMITS, b"{" * 8 + b"[" * 8) == TOO_DEEP.format(limit=16)


VALID = [event for _, event in TOLERATED]
INVALID = [event for _, event, _ in REFUSED if isinstance(check(event), str)]  # not "too deep"
BATCHES: list[tuple[str, list[Any]]] = [
    ("empty", []),
    ("all valid", VALID),
    ("all invalid", INVALID),
    ("one bad event among good ones", [*VALID[:3], INVALID[3], *VALID[3:]]),
    ("bad at the ends", [INVALID[0], *VALID, INVALID[1]]),
    ("a non-object", [VALID[0], "track", VALID[1]]),
    ("an unknown type", [VALID[0], {"type": "launch", "userId": "u"}]),
    ("valid spec, no identity", [VALID[0], {"type": "track", "event": "e"}]),
    ("one of each call", [{**call, "userId": "u"} for call in (
        {"type": "track", "event": "e"}, {"type": "identify"}, {"type": "page"},
        {"type": "screen"}, {"type": "group", "groupId": "g"},
        {"type": "alias", "previousId": "p"})]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "batch"), BATCHES, ids=[c for c, _ in BATCHES])
def test_a_batch_is_checked_as_its_events_one_by_one(case: str, batch: list[Any]) -> None:
    assert check_all(batch) == [check(event) for event in batch], case
