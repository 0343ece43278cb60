"""The profile document: what an event and a merge do to traits, consent, first-touch and
first/last seen — by event time, whatever the arrival order."""

from __future__ import annotations

from typing import Any

import pytest

from shared.identity.records import absorb, apply_event, iso, traits_of

T1, T2, T3 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"


def ev(at: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "timestamp": at,
        "messageId": f"m-{at}",
        "sourceId": "web",
        **fields,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T00:00:00Z", T1),
        ("2026-01-01T01:00:00+01:00", T1),
        ("2026-01-01T00:00:00", T1),
        ("2026-01-01T00:00:00.000Z", T1),
        ("garbage", "garbage"),
    ],
)
def test_event_times_compare_in_one_format(raw: str, expected: str) -> None:
    assert iso(raw) == expected


def test_consent_is_kept_per_category_by_event_time() -> None:
    consent = lambda **p: {"consent": {"categoryPreferences": p}}  # noqa: E731
    profile = apply_event({}, ev(T2, context=consent(ads=True, analytics=True)), "user_id:u")
    profile = apply_event(profile, ev(T1, context=consent(ads=False)), "user_id:u")  # older
    profile = apply_event(profile, ev(T3, context=consent(analytics=False)), "user_id:u")
    assert {k: v["value"] for k, v in profile["consent"].items()} == {
        "ads": True,
        "analytics": False,
    }


def test_first_touch_is_the_earliest_attributed_event() -> None:
    page = lambda url: {"page": {"url": url, "referrer": "https://r.example/"}}  # noqa: E731
    profile = apply_event({}, ev(T2, context=page("https://x.example/b")), "anonymous_id:a")
    profile = apply_event(profile, ev(T3, context=page("https://x.example/c")), "anonymous_id:a")
    profile = apply_event(profile, ev(T1, context=page("https://x.example/a")), "anonymous_id:a")
    assert profile["first_touch"]["landing_page"] == "https://x.example/a"
    assert profile["first_touch"]["at"] == T1


def test_a_merge_keeps_the_latest_traits_and_the_widest_seen_times() -> None:
    survivor = apply_event({}, ev(T2, traits={"plan": "pro", "name": "A"}), "user_id:u")
    absorbed = apply_event({}, ev(T1, traits={"plan": "free"}), "anonymous_id:a")
    absorbed = apply_event(absorbed, ev(T3, traits={"name": "B"}), "anonymous_id:a")
    merged = absorb({**survivor, "identifiers": {"user_id": ["u"]}}, absorbed)
    assert {k: v["value"] for k, v in merged["traits"].items()} == {"plan": "pro", "name": "B"}
    assert (merged["first_seen"], merged["last_seen"]) == (T1, T3)


def test_trait_names_a_document_cannot_hold_are_dropped() -> None:
    event = ev(T1, traits={"": 1, "__name__": 2, "ok": 3}, context={"traits": {"x": 4}})
    assert traits_of(event) == {"ok": 3, "x": 4}


@pytest.mark.parametrize(
    ("stored", "event", "expected"),
    [
        (None, "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:00.000Z"),  # the first event
        ("2026-01-01T10:00:00.000Z", "2026-01-01T10:59:59.999Z", "2026-01-01T10:00:00.000Z"),
        ("2026-01-01T10:00:00.000Z", "2026-01-01T11:00:00.000Z", "2026-01-01T11:00:00.000Z"),
        ("2026-01-01T10:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-03T00:00:00.000Z"),
        ("2026-01-01T10:00:00.000Z", "2025-12-31T00:00:00.000Z", "2026-01-01T10:00:00.000Z"),
        ("2026-01-01T10:00:00.000Z", "garbage", "garbage"),  # text order, as iso() leaves it
    ],
)
def test_last_seen_moves_once_an_event_is_an_hour_later(
    stored: str | None, event: str, expected: str
) -> None:
    profile = {"last_seen": stored} if stored else {}
    assert (
        apply_event(profile, {"type": "track", "timestamp": event}, "user_id:u")["last_seen"]
        == expected
    )


def test_an_event_within_the_hour_that_changes_nothing_leaves_the_profile_equal() -> None:
    first = apply_event({}, ev(T1, traits={"plan": "pro"}), "user_id:u")
    again = apply_event(first, {"type": "track", "timestamp": "2026-01-01T00:30:00.000Z"}, "x")
    assert again == first  # so the repository writes nothing
