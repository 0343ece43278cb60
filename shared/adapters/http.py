"""Outbound HTTP on httpx, one connection pool per instance."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from shared.errors import BackendUnavailable
from shared.ports.http import HttpRequest, HttpResponse, HttpSender


class HttpxSender(HttpSender):
    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport)
        return self._client

    def send(self, request: HttpRequest) -> HttpResponse:
        try:
            answer = self.client.request(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body,
                timeout=request.timeout_seconds,
            )
        except httpx.TransportError as error:
            where = origin(request.url)
            raise BackendUnavailable(f"{request.method} {where}: {type(error).__name__}") from None
        return HttpResponse(answer.status_code, dict(answer.headers), answer.content)


def origin(url: str) -> str:
    """Scheme and host only: a URL's path, query or user part may be a credential (a webhook's
    token, GA4's api_secret), and errors end up in logs on every redelivery."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
