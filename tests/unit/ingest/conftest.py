"""Ingest through functions-framework's test client, on the in-memory publisher and clock."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.ingest.sources import hash_key
from shared.ports.clock import FakeClock
from shared.ports.publisher import InMemoryPublisher
from shared.settings import Settings, Source
from shared.topology import EVENTS, FAILED_EVENTS
from tests.fakes import client, fake_services, installed

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"
KEYS = {"web": "k-web", "backend": "k-backend", "customerio": "k-cio", "old": "k-old"}
NOON = 12 * 3600  # the fixtures were "sent" just before 2026-01-01T12:00:00Z


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def ingest_settings() -> Settings:
    """Tiering off: these tests are about the HTTP surface, so every accepted event is on the
    events topic (tiered ingest is tested in tests/unit/tiering)."""
    kinds = {"web": "web", "backend": "server", "customerio": "third_party", "old": "web"}
    return Settings(
        project_id="cdp-unit",
        tier_enabled=False,
        sources=[
            Source(
                id=sid,
                name=sid.title(),
                kind=kinds[sid],
                write_key_sha256=hash_key(key),
                enabled=sid != "old",
            )
            for sid, key in KEYS.items()
        ],
    )


@dataclass
class Ingest:
    """The function's test client with the fakes behind it."""

    client: Any
    publisher: InMemoryPublisher
    clock: FakeClock

    def post(self, path: str, body: Any, key: str | None = "k-web", **kw: Any) -> Any:
        headers = {**(basic(key) if key else {}), **kw.pop("headers", {})}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        kw.setdefault("content_type", "application/json")
        return self.client.post(path, data=data, headers=headers, **kw)

    def events(self) -> list[dict[str, Any]]:
        return [e for m in self.publisher.on(EVENTS) for e in json.loads(m.data)["events"]]

    def failures(self) -> list[dict[str, Any]]:
        return [e for m in self.publisher.on(FAILED_EVENTS) for e in json.loads(m.data)["events"]]


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    services: Services = fake_services(ingest_settings())
    assert isinstance(services.publisher, InMemoryPublisher)
    assert isinstance(services.clock, FakeClock)
    services.clock.advance(NOON)
    with installed(services):
        yield Ingest(client("ingest"), services.publisher, services.clock)
