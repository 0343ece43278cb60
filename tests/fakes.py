"""Services built on the in-memory fakes of every port, for unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.bootstrap import Services, bootstrap
from shared.ingest.sources import hash_key
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import InMemoryWarehouse, SqlRunner
from shared.settings import Settings, Source
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


def fake_services(settings: Settings | None = None) -> Services:
    settings = settings or unit_settings()
    warehouse = InMemoryWarehouse()
    warehouse.ensure(datasets(settings))
    return bootstrap(
        settings,
        clock=FakeClock(),
        publisher=InMemoryPublisher(),
        documents=InMemoryDocumentStore(),
        warehouse=warehouse,
        sql=NoSql(),
        http=FakeHttpSender(),
    )
