"""First touch found later by the promotion sweep lands on the person's profile, earliest wins."""

from __future__ import annotations

from shared.identity.attribution import attach_first_touch, touch_from_attribution
from shared.identity.profiles import ProfileRepository
from shared.ports.documents import InMemoryDocumentStore
from tests.unit.identity.helpers import USER, journey

SWEPT = {  # as the sweep writes attribution/{anonymous_id}
    "anonymous_id": "bbb-bbb-bbb",
    "user_id": None,
    "utm_source": "appstore",
    "utm_medium": None,
    "utm_campaign": "bus-ads",
    "utm_term": None,
    "utm_content": None,
    "referrer": None,
    "landing_page": "app://welcome",
    "first_seen": "2026-02-20T08:00:00Z",
    "first_event_type": "screen",
    "first_message_id": "cold-1",
}


def test_an_attribution_document_becomes_a_first_touch() -> None:
    assert touch_from_attribution(SWEPT) == {
        "campaign": {"name": "bus-ads", "source": "appstore"},
        "landing_page": "app://welcome",
        "at": "2026-02-20T08:00:00.000Z",
        "message_id": "cold-1",
        "source": "attribution",
        "by": "anonymous_id:bbb-bbb-bbb",
    }


def test_the_earliest_first_touch_of_any_device_wins_once() -> None:
    store = InMemoryDocumentStore()
    repo = ProfileRepository(store)
    for event in journey():
        repo.record(event)
    profile = repo.find(USER)
    assert profile is not None and profile["first_touch"]["message_id"] == "m1-desktop-visit"
    touch = touch_from_attribution(SWEPT)  # the mobile id was seen, cold, before the desktop
    assert attach_first_touch(store, touch) == profile["profile_id"]
    writes = store.writes
    assert attach_first_touch(store, touch) == profile["profile_id"]
    assert store.writes == writes  # the same touch again changes nothing
    later = touch_from_attribution({**SWEPT, "first_seen": "2026-03-09T00:00:00Z"})
    attach_first_touch(store, later)
    assert repo.find(USER)["first_touch"] == touch  # type: ignore[index]


def test_an_unknown_anonymous_id_is_left_alone() -> None:
    store = InMemoryDocumentStore()
    assert attach_first_touch(store, touch_from_attribution(SWEPT)) is None
    assert store.writes == 0
