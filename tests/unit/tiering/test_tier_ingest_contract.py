"""The contract between ingest and tiering, through the ingest function's HTTP face: cold events
go to ``cold-events`` as one message per request (kind ``cold``), engaged ones to ``events``."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.bootstrap import Services
from shared.ports.publisher import InMemoryPublisher
from shared.topology import COLD_EVENTS, EVENTS
from tests.fakes import SERVER_KEY, WEB_KEY, client


def send(path: str, body: dict[str, Any], key: str = WEB_KEY) -> int:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    status: int = (
        client("ingest").post(path, json=body, headers={"Authorization": auth}).status_code
    )
    return status


def published(services: Services, topic: str) -> list[tuple[dict[str, str], list[Any]]]:
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    return [(m.attributes, json.loads(m.data)["events"]) for m in publisher.on(topic)]


def test_cold_then_signed_up_then_engaged(services: Services) -> None:
    pages = [{"type": "page", "anonymousId": "v1", "name": f"/p{i}"} for i in range(3)]
    assert send("/v1/batch", {"batch": pages}) == 200
    [(attributes, cold)] = published(services, COLD_EVENTS)
    assert attributes["kind"] == "cold" and attributes["source_id"] == "web" and len(cold) == 3
    assert all(e["receivedAt"] and e["messageId"] for e in cold)  # already enriched
    assert published(services, EVENTS) == []
    assert send("/v1/identify", {"anonymousId": "v1", "userId": "u1"}) == 200
    assert send("/v1/page", {"anonymousId": "v1", "name": "/after"}) == 200
    engaged = [e["type"] for _, events in published(services, EVENTS) for e in events]
    assert engaged == ["identify", "page"] and len(published(services, COLD_EVENTS)) == 1


def test_a_mixed_batch_is_two_messages_and_server_events_are_engaged(services: Services) -> None:
    batch = [
        {"type": "page", "anonymousId": "v2"},
        {"type": "track", "event": "Sign Up", "anonymousId": "v3"},
    ]
    assert send("/v1/batch", {"batch": batch}) == 200
    assert [len(e) for _, e in published(services, COLD_EVENTS)] == [1]
    assert [len(e) for _, e in published(services, EVENTS)] == [1]
    assert send("/v1/page", {"anonymousId": "v4"}, key=SERVER_KEY) == 200
    assert len(published(services, EVENTS)) == 2
