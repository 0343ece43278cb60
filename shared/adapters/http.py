"""Outbound HTTP on httpx, one connection pool per instance."""

from __future__ import annotations

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
            raise BackendUnavailable(f"{request.method} {request.url}: {error}") from error
        return HttpResponse(answer.status_code, dict(answer.headers), answer.content)
