"""Publishing to Pub/Sub topics."""

from __future__ import annotations

import abc
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutboundMessage:
    topic: str  # short name from the topology, e.g. "events"
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


class Publisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, messages: Sequence[OutboundMessage]) -> list[str]:
        """Publish all messages and return their server ids once every one is accepted.

        Raises ``BackendUnavailable`` if any was not accepted: the caller must then not
        report success (an HTTP 200 promises the events are safe).
        """


@dataclass(frozen=True)
class PublishedMessage:
    id: str
    topic: str
    data: bytes
    attributes: dict[str, str]


class InMemoryPublisher(Publisher):
    """Keeps what was published; ``fail_next`` simulates an outage."""

    def __init__(self) -> None:
        self.messages: list[PublishedMessage] = []
        self.fail_next = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str]:
        from shared.errors import BackendUnavailable

        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise BackendUnavailable("publish failed (simulated outage)")
            ids = []
            for message in messages:
                message_id = str(next(self._ids))
                self.messages.append(
                    PublishedMessage(message_id, message.topic, message.data, message.attributes)
                )
                ids.append(message_id)
            return ids

    def on(self, topic: str) -> list[PublishedMessage]:
        return [m for m in self.messages if m.topic == topic]
