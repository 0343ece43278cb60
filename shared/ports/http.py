"""Outbound HTTP (destinations, GA4). Tests inject a fake sender, never the network."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class HttpSender(abc.ABC):
    @abc.abstractmethod
    def send(self, request: HttpRequest) -> HttpResponse:
        """Send and return the answer, whatever its status; raise BackendUnavailable when no
        answer came (connection refused, timeout)."""


class FakeHttpSender(HttpSender):
    """Answers with ``responder(request)`` and keeps every request it was sent."""

    def __init__(self, responder: Callable[[HttpRequest], HttpResponse] | None = None) -> None:
        self.requests: list[HttpRequest] = []
        self._responder = responder or (lambda _request: HttpResponse(200))

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self._responder(request)
