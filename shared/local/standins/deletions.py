"""The deletion calls a stand-in answered, kept apart from the events it delivered.

A stand-in's ``check`` answers a deletion with ``Reply(..., delivered=(deletion(...),))``; the
shared server keeps delivered entries only when the request passed its checks and no fault was
injected, so after ``receive`` the stand-in moves them from ``delivered`` (events, which tests
count) to ``deletions``, listed by ``GET /_standin`` as ``"deletions"``. An end-to-end test
reads there what each provider was asked to forget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.local.standins.base import Reply, StandIn

MARK = "deletion"


def deletion(key: str, **fields: Any) -> dict[str, Any]:
    """One deletion call, as a ``Reply.delivered`` entry."""
    return {MARK: True, "key": key, **fields}


def split(delivered: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events, deletions) of a stand-in's delivered entries; deletions lose their mark."""
    events, deletions = [], []
    for entry in delivered:
        if entry.get(MARK) is True:
            deletions.append({k: v for k, v in entry.items() if k != MARK})
        else:
            events.append(entry)
    return events, deletions


class DeletingStandIn(StandIn):
    """A stand-in of a provider with a deletion API. After ``receive`` of a request
    ``is_deletion`` names, what it delivered moves to ``deletions``, which ``listing`` shows
    and ``clear`` empties, so tests count events and deletions apart."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.deletions: list[dict[str, Any]] = []  # the deletion calls answered

    def is_deletion(self, method: str, path: str) -> bool:
        """Whether this request is one of the provider's deletion calls."""
        raise NotImplementedError

    def receive(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Reply, float]:
        answered = super().receive(method, path, headers, body)
        if self.is_deletion(method, path):
            with self._lock:
                self.delivered, moved = split(self.delivered)
                self.deletions += moved
        return answered

    def listing(self) -> dict[str, Any]:
        with self._lock:
            kept = list(self.deletions)
        return super().listing() | {"deletions": kept}

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self.deletions.clear()
