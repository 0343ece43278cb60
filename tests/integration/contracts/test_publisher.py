"""Publisher contract: the fake and Pub/Sub (emulator) behave alike."""

from __future__ import annotations

import time
from typing import Any

from shared.ports.publisher import OutboundMessage


def test_publish_returns_ids_once_accepted_and_keeps_data_and_attributes(
    publisher_and_reader: Any,
) -> None:
    publisher, topic, read = publisher_and_reader
    ids = publisher.publish(
        [
            OutboundMessage(topic, b'{"events":[1]}', {"kind": "events", "source_id": "web"}),
            OutboundMessage(topic, "ünïcode".encode(), {"kind": "failed"}),
        ]
    )
    assert len(ids) == 2 and len(set(ids)) == 2
    received: list[tuple[bytes, dict[str, str]]] = []
    deadline = time.monotonic() + 20
    while len(received) < 2 and time.monotonic() < deadline:
        received += read()
    assert sorted(received, key=lambda m: m[0]) == sorted(
        [
            (b'{"events":[1]}', {"kind": "events", "source_id": "web"}),
            ("ünïcode".encode(), {"kind": "failed"}),
        ],
        key=lambda m: m[0],
    )


def test_publishing_nothing_is_a_no_op(publisher_and_reader: Any) -> None:
    publisher, _, _ = publisher_and_reader
    assert publisher.publish([]) == []
