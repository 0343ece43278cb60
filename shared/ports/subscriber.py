"""Pulling from Pub/Sub subscriptions: what operators do with dead letters (list, replay).

Functions never pull: Pub/Sub pushes to them. Only the dead-letter subscriptions are pull
subscriptions, read by ``cdp dlq``.
"""

from __future__ import annotations

import abc
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    ack_id: str
    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    publish_time: str = ""


class Subscriber(abc.ABC):
    @abc.abstractmethod
    def pull(self, subscription: str, max_messages: int) -> list[Received]:
        """Up to ``max_messages`` waiting messages (fewer when fewer wait); they are leased
        until acknowledged or released."""

    @abc.abstractmethod
    def acknowledge(self, subscription: str, ack_ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def release(self, subscription: str, ack_ids: Sequence[str]) -> None:
        """Give leased messages back at once (to list them without taking them)."""


class InMemorySubscriber(Subscriber):
    def __init__(self) -> None:
        self.waiting: dict[str, list[Received]] = {}
        self._leased: dict[str, dict[str, Received]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def put(self, subscription: str, data: bytes, **attributes: str) -> None:
        n = str(next(self._ids))
        with self._lock:
            self.waiting.setdefault(subscription, []).append(
                Received(f"ack-{n}", n, data, dict(attributes), "2026-01-01T00:00:00Z")
            )

    def pull(self, subscription: str, max_messages: int) -> list[Received]:
        with self._lock:
            queue = self.waiting.get(subscription, [])
            taken, self.waiting[subscription] = queue[:max_messages], queue[max_messages:]
            self._leased.setdefault(subscription, {}).update({m.ack_id: m for m in taken})
            return taken

    def acknowledge(self, subscription: str, ack_ids: Sequence[str]) -> None:
        with self._lock:
            for ack_id in ack_ids:
                self._leased.get(subscription, {}).pop(ack_id, None)

    def release(self, subscription: str, ack_ids: Sequence[str]) -> None:
        with self._lock:
            back = [self._leased.get(subscription, {}).pop(a) for a in ack_ids]
            self.waiting[subscription] = [*back, *self.waiting.get(subscription, [])]
