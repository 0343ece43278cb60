"""A pull subscription of our own on the ``events`` topic, to see exactly what ingest published.

Created before anything is sent (Pub/Sub keeps only what arrives after a subscription exists),
filtered afterwards by a per-test tag, so other tests publishing at the same time do not matter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

Event = dict[str, Any]


class Tap:
    def __init__(self, subscriber: Any, path: str) -> None:
        self._subscriber = subscriber
        self.path = path
        self.events: list[Event] = []

    def pull_once(self, timeout: float = 10) -> int:
        """One pull; an empty subscription holds the call until ``timeout`` (then 0)."""
        try:
            answer = self._subscriber.pull(
                request={"subscription": self.path, "max_messages": 100}, timeout=timeout
            )
        except DeadlineExceeded:
            return 0
        acks = []
        for received in answer.received_messages:
            self.events.extend(json.loads(received.message.data)["events"])
            acks.append(received.ack_id)
        if acks:
            self._subscriber.acknowledge(request={"subscription": self.path, "ack_ids": acks})
        return len(acks)

    def collect(
        self, mine: Callable[[Event], bool], expected: int, timeout: float = 45, quiet: float = 2
    ) -> list[Event]:
        """Pull until ``expected`` of our events arrived, then ``quiet`` more seconds so that a
        duplicate published late would be seen too."""
        deadline = time.monotonic() + timeout
        while sum(map(mine, self.events)) < expected and time.monotonic() < deadline:
            if not self.pull_once(timeout=max(0.5, min(10, deadline - time.monotonic()))):
                time.sleep(0.2)
        settle = time.monotonic() + quiet
        while time.monotonic() < settle:
            if not self.pull_once(timeout=max(0.3, settle - time.monotonic())):
                time.sleep(0.1)
        return [e for e in self.events if mine(e)]


@contextmanager
def tap(project_id: str, topic: str = "events") -> Iterator[Tap]:
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project_id, f"tap-{uuid.uuid4().hex[:12]}")
    subscriber.create_subscription(
        request={"name": path, "topic": f"projects/{project_id}/topics/{topic}"}
    )
    try:
        yield Tap(subscriber, path)
    finally:
        subscriber.delete_subscription(request={"subscription": path})
        subscriber.close()


CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def tagged(tag: str) -> Callable[[Event], bool]:
    return lambda e: (
        str(e.get("userId", "")).startswith(tag) or str(e.get("anonymousId", "")).startswith(tag)
    )


def assert_six_calls_exactly_once(events: list[Event], tag: str) -> dict[str, Event]:
    """Each call type once, each messageId once, and the fields the SDK was given intact."""
    ids = [e["messageId"] for e in events]
    assert len(ids) == len(set(ids)), f"duplicated messageIds: {ids}"
    by_type = {e["type"]: e for e in events}
    assert sorted(e["type"] for e in events) == sorted(CALL_TYPES), events
    user, anon = f"{tag}-user", f"{tag}-anon"
    for event in events:
        assert event["userId"] == user
        assert event["receivedAt"] and event["timestamp"] and event["sourceId"]
        assert "writeKey" not in event
    assert by_type["identify"]["traits"] == {"email": f"{tag}@example.com", "plan": "free"}
    track = by_type["track"]
    assert track["event"] == "transaction_initiated"
    assert track["properties"] == {
        "amount": 125.5,
        "type": "deposit",
        "method": "ach",
        "platform": "server",
        "note": "Überweisung ✓ 送金",
        "nested": {"a": [1, 2, {"b": None}]},
    }
    assert track["anonymousId"] == anon
    assert by_type["page"]["name"] == "Pricing"
    assert by_type["page"]["properties"]["path"] == "/pricing"
    assert by_type["screen"]["name"] == "Dashboard"
    assert by_type["group"]["groupId"] == f"{tag}-household"
    assert by_type["group"]["traits"] == {"name": "Household"}
    assert by_type["alias"]["previousId"] == anon
    return by_type
