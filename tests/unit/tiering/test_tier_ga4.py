"""The GA4 mapping as tables: every limit and reserved name of the Measurement Protocol."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.tiering.ga4 import (
    MAX_BODY_BYTES,
    RESERVED_EVENT_NAMES,
    build_requests,
    client_id_of,
    event_name,
    params_of,
    problems,
    to_ga4_event,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TS = "2026-11-22T11:00:00.000Z"


def track(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "anonymousId": "a1", "timestamp": TS, **extra}


NAMES = [
    ("Viewed Rates", "viewed_rates"),
    ("account created!!", "account_created"),
    ("Savings-Goal.Set", "savings_goal_set"),
    ("123 go", "e_123_go"),
    ("_private", "private"),
    ("__", "e_unnamed"),
    ("", "e_unnamed"),
    ("firebase_thing", "cdp_firebase_thing"),
    ("ga_event", "cdp_ga_event"),
    ("google_signal", "cdp_google_signal"),
    ("gtag.config", "gtag_config"),
    ("Ünïcode Évent", "n_code_vent"),
    ("x" * 60, "x" * 40),
    ("a" * 39 + " b", "a" * 39 + "_"),
]


@pytest.mark.parametrize(("raw", "expected"), NAMES)
def test_track_names(raw: str, expected: str) -> None:
    assert event_name(track(raw)) == expected


@pytest.mark.parametrize("reserved", sorted(RESERVED_EVENT_NAMES))
def test_every_reserved_event_name_is_avoided(reserved: str) -> None:
    name = event_name(track(reserved))
    assert name is not None and name != reserved and name.startswith("cdp_")
    assert problems({"client_id": "c", "events": [to_ga4_event(track(reserved), NOW)]}) == []


CALLS = [
    ({"type": "page", "anonymousId": "a1"}, "page_view"),
    ({"type": "screen", "anonymousId": "a1", "name": "Home"}, "app_screen_view"),
    ({"type": "group", "anonymousId": "a1", "groupId": "g1"}, "join_group"),
    ({"type": "identify", "anonymousId": "a1"}, None),
    ({"type": "alias", "anonymousId": "a1"}, None),
    ({"type": "track", "anonymousId": "a1"}, None),
]


@pytest.mark.parametrize(("event", "expected"), CALLS)
def test_calls(event: dict[str, Any], expected: str | None) -> None:
    assert event_name(event) == expected


def test_page_becomes_page_view_with_location_title_referrer_and_campaign() -> None:
    page = {
        "type": "page",
        "anonymousId": "a1",
        "name": "Pricing",
        "timestamp": TS,
        "properties": {"url": "https://x.example/pricing?utm_source=g", "path": "/pricing"},
        "context": {
            "page": {"referrer": "https://www.google.com/", "title": "Pricing · X"},
            "campaign": {"name": "spring", "source": "google", "medium": "cpc"},
        },
    }
    mapped = to_ga4_event(page, NOW)
    assert mapped is not None and mapped["name"] == "page_view"
    assert mapped["params"] == {
        "session_id": str(int((NOW - timedelta(hours=1)).timestamp()) // 1800 * 1800),
        "engagement_time_msec": 100,
        "page_location": "https://x.example/pricing?utm_source=g",
        "page_title": "Pricing · X",
        "page_referrer": "https://www.google.com/",
        "campaign": "spring",
        "source": "google",
        "medium": "cpc",
        "path": "/pricing",
    }
    assert mapped["timestamp_micros"] == int((NOW - timedelta(hours=1)).timestamp() * 1e6)


PARAMS = [
    ("bool", {"ok": True}, {"ok": "true"}),
    ("int and float", {"n": 3, "amount": 12.5}, {"n": 3, "amount": 12.5}),
    ("long string cut at 100", {"s": "y" * 150}, {"s": "y" * 100}),
    ("nested and null dropped", {"o": {"a": 1}, "l": [1], "z": None, "e": ""}, {}),
    ("non-finite dropped", {"nan": float("nan")}, {}),
    ("names sanitised", {"Plan Type": "pro", "2fa": "on"}, {"plan_type": "pro", "p_2fa": "on"}),
    ("long name cut at 40", {"k" * 50: 1}, {"k" * 40: 1}),
    ("reserved prefixes", {"ga_x": 1, "google_y": 2, "_z": 3},
     {"cdp_ga_x": 1, "cdp_google_y": 2, "z": 3}),
    ("reserved param name", {"firebase_conversion": 1}, {"cdp_firebase_conversion": 1}),
    ("duplicates after sanitising keep the first", {"a b": 1, "a_b": 2}, {"a_b": 1}),
    ("own session id is used, not duplicated", {"session_id": "s-9"}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("props", "expected"), [p[1:] for p in PARAMS], ids=[p[0] for p in PARAMS])
def test_params(props: dict[str, Any], expected: dict[str, Any]) -> None:
    params = params_of(track("x", properties=props), NOW)
    own = {k: params.pop(k) for k in ("session_id", "engagement_time_msec")}
    assert params == expected
    assert own["engagement_time_msec"] == 100
    if "session_id" in props:
        assert own["session_id"] == "s-9"


def test_at_most_25_params_and_session_and_engagement_always_kept() -> None:
    mapped = to_ga4_event(track("x", properties={f"p{i}": i for i in range(40)}), NOW)
    assert mapped is not None and len(mapped["params"]) == 25
    assert {"session_id", "engagement_time_msec"} <= set(mapped["params"])


SESSIONS = [
    ({"properties": {"session_id": 1700000000}}, "1700000000"),
    ({"context": {"sessionId": "abc"}}, "abc"),
    ({"context": {"session_id": "def"}}, "def"),
    ({}, str(int(NOW.timestamp()))),  # the 30-minute slot of the time passed in
]


@pytest.mark.parametrize(("extra", "expected"), SESSIONS)
def test_session_id(extra: dict[str, Any], expected: str) -> None:
    assert params_of(track("x", **extra), NOW)["session_id"] == expected


def test_engagement_time_from_properties() -> None:
    event = track("x", properties={"engagement_time_msec": 2500})
    assert params_of(event, NOW)["engagement_time_msec"] == 2500


CLIENTS = [
    ({}, "a1"),
    ({"context": {"ga_client_id": "111.222"}}, "111.222"),
    ({"context": {"gaClientId": "GA1.1.333.444"}}, "333.444"),
    ({"integrations": {"Google Analytics 4": {"clientId": "555.666"}}}, "555.666"),
    ({"context": {"externalIds": [{"type": "ga_client_id", "id": "GA1.2.7.8"}]}}, "7.8"),
    ({"anonymousId": None}, None),
]


@pytest.mark.parametrize(("extra", "expected"), CLIENTS)
def test_client_id(extra: dict[str, Any], expected: str | None) -> None:
    assert client_id_of({**track("x"), **extra}) == expected


TIMES = [
    ("an hour ago", NOW - timedelta(hours=1), NOW - timedelta(hours=1)),
    ("71 hours ago", NOW - timedelta(hours=71), NOW - timedelta(hours=71)),
    ("future (device clock) → now", NOW + timedelta(hours=2), NOW),
    ("73 hours ago → left to the archive", NOW - timedelta(hours=73), None),
]


@pytest.mark.parametrize(("when", "expected"), [t[1:] for t in TIMES], ids=[t[0] for t in TIMES])
def test_timestamp_micros_within_the_backdating_window(
    when: datetime, expected: datetime | None
) -> None:
    mapped = to_ga4_event(track("x", timestamp=when.isoformat()), NOW)
    if expected is None:
        assert mapped is None
    else:
        assert mapped is not None and mapped["timestamp_micros"] == int(expected.timestamp() * 1e6)


def test_requests_hold_one_client_and_at_most_25_events() -> None:
    events = [track(f"e{i}") for i in range(60)] + [track("other", anonymousId="a2")]
    events += [{"type": "identify", "anonymousId": "a1"}, track("x", anonymousId=None)]
    requests, skipped = build_requests(events, NOW)
    assert [(r["client_id"], len(r["events"])) for r in requests] == [
        ("a1", 25), ("a1", 25), ("a1", 10), ("a2", 1)
    ]  # fmt: skip
    assert skipped == 2
    assert all(problems(r) == [] for r in requests)


def test_requests_stay_under_130_kb() -> None:
    wide = {f"p{i}": "€" * 100 for i in range(30)}  # 3 bytes a character
    requests, _ = build_requests([track(f"e{i}", properties=wide) for i in range(25)], NOW)
    assert len(requests) > 1
    assert all(len(json.dumps(r, ensure_ascii=False).encode()) < MAX_BODY_BYTES for r in requests)
    assert sum(len(r["events"]) for r in requests) == 25


OK_EVENT = {"name": "ok", "params": {"session_id": "1", "engagement_time_msec": 1}}
PROBLEMS = [
    ("valid", {"client_id": "c", "events": [OK_EVENT]}, 0),
    ("no client id", {"events": [OK_EVENT]}, 1),
    ("no events", {"client_id": "c", "events": []}, 1),
    ("26 events", {"client_id": "c", "events": [OK_EVENT] * 26}, 1),
    ("bad name", {"client_id": "c", "events": [{**OK_EVENT, "name": "1x"}]}, 1),
    ("41-char name", {"client_id": "c", "events": [{**OK_EVENT, "name": "a" * 41}]}, 1),
    ("reserved name", {"client_id": "c", "events": [{**OK_EVENT, "name": "session_start"}]}, 1),
    ("reserved prefix", {"client_id": "c", "events": [{**OK_EVENT, "name": "ga_x"}]}, 1),
    ("26 params", {"client_id": "c", "events": [{"name": "x",
                                                 "params": {f"p{i}": i for i in range(26)}}]}, 1),
    ("long value", {"client_id": "c", "events": [{"name": "x", "params": {"p": "v" * 101}}]}, 1),
    ("reserved param", {"client_id": "c", "events": [{"name": "x", "params": {"google_p": 1}}]},
     1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "count"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_problems(payload: dict[str, Any], count: int) -> None:
    assert len(problems(payload)) == count
