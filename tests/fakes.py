"""Services built on the in-memory fakes of every port, for unit tests; a function served by
functions-framework's test client, and the Pub/Sub push body that feeds it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import functions_framework

from shared.bootstrap import Services, bootstrap, use_services
from shared.ingest.sources import hash_key
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse, SqlRunner
from shared.settings import Settings, Source
from shared.topology import TOPOLOGY
from shared.warehouse.tables import datasets

WEB_KEY = "test-web-key"
SERVER_KEY = "test-server-key"
DISABLED_KEY = "test-disabled-key"


class NoSql(SqlRunner):
    """Unit tests never run SQL: what needs it is tested on the BigQuery emulator."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise AssertionError("SQL is not available in unit tests")


def unit_settings(**overrides: object) -> Settings:
    sources = [
        Source(id="web", name="Web", kind="web", write_key_sha256=hash_key(WEB_KEY)),
        Source(id="backend", name="Backend", kind="server", write_key_sha256=hash_key(SERVER_KEY)),
        Source(
            id="old", name="Old", kind="web", write_key_sha256=hash_key(DISABLED_KEY), enabled=False
        ),
    ]
    return Settings(project_id="cdp-unit", sources=sources, **overrides)  # type: ignore[arg-type]


def fake_services(settings: Settings | None = None, clock: FakeClock | None = None) -> Services:
    settings = settings or unit_settings()
    warehouse = InMemoryWarehouse()
    warehouse.ensure(datasets(settings))
    return bootstrap(
        settings,
        clock=clock or FakeClock(),
        publisher=InMemoryPublisher(),
        documents=InMemoryDocumentStore(),
        warehouse=warehouse,
        sql=NoSql(),
        http=FakeHttpSender(),
    )


@contextmanager
def installed(services: Services) -> Iterator[Services]:
    """``services`` where the functions find them (``services()``) for the block's duration."""
    use_services(services)
    try:
        yield services
    finally:
        use_services(None)


REPO = Path(__file__).resolve().parents[1]


def client(name: str) -> Any:
    function = TOPOLOGY.function(name)
    source = str(REPO / "functions" / function.folder / "main.py")
    app = functions_framework.create_app(function.entry_point, source, function.signature_type)
    return app.test_client()


def push_body(
    events: list[dict[str, Any]] | None, kind: str = "events", raw: bytes | None = None
) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps({"events": events}).encode()
    return {
        "subscription": "projects/p/subscriptions/s",
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": {"kind": kind},
            "messageId": "42",
            "publishTime": "2026-01-01T00:00:00Z",
        },
    }
