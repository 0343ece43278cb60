"""The loader and the dedup job on the BigQuery emulator."""

from __future__ import annotations

from shared.adapters.bigquery import BigQueryWarehouse
from shared.bootstrap import bootstrap
from shared.envelope import Envelope
from shared.jobs import run_job
from shared.ports.clock import FakeClock, SystemClock
from shared.ports.publisher import InMemoryPublisher
from shared.settings import Settings
from shared.warehouse.tables import datasets


def events(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {
            "type": "track",
            "event": "transaction_completed",
            "userId": f"{prefix}-u",
            "messageId": f"{prefix}-{i}",
            "timestamp": "2026-11-20T10:00:00.000Z",
            "receivedAt": SystemClock().now().isoformat(),
            "properties": {"amount": 12.5, f"never_seen_{prefix}": True},
        }
        for i in range(n)
    ]


def services_on(bigquery: BigQueryWarehouse, prefix: str):  # type: ignore[no-untyped-def]
    settings = Settings(project_id="cdp-test", dataset_prefix=f"it_{prefix}", bigquery_endpoint="-")
    bigquery.ensure(datasets(settings))
    return bootstrap(settings, warehouse=bigquery, sql=bigquery, publisher=InMemoryPublisher())


def test_the_same_batch_three_times_is_one_set_of_rows(
    bigquery: BigQueryWarehouse, unique: str
) -> None:
    services = services_on(bigquery, unique)
    batch = events(unique, 20)
    for _ in range(3):
        services.loader.handle(Envelope("events", batch, {}))
    rows = bigquery.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d FROM `it_{unique}_raw.events`"
    )
    assert rows == [{"n": 20, "d": 20}]


def test_the_dedup_job_removes_a_late_redelivery(bigquery: BigQueryWarehouse, unique: str) -> None:
    services = services_on(bigquery, unique)
    batch = events(unique, 5)
    services.loader.handle(Envelope("events", batch, {}))
    # A redelivery after insertId's window: same messageIds under other insert ids, later.
    clock = FakeClock(SystemClock().now())
    clock.advance(120)
    late = bootstrap(services.settings, warehouse=_NewInsertIds(bigquery), sql=bigquery,
                     publisher=InMemoryPublisher(), clock=clock)  # fmt: skip
    late.loader.handle(Envelope("events", batch, {}))
    table = f"it_{unique}_raw.events"
    assert bigquery.query(f"SELECT COUNT(*) AS n FROM `{table}`") == [{"n": 10}]
    assert run_job("warehouse-dedup", services) == {"job": "warehouse-dedup", "deleted": 5}
    assert bigquery.query(
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d FROM `{table}`"
    ) == [{"n": 5, "d": 5}]
    assert run_job("warehouse-dedup", services)["deleted"] == 0


class _NewInsertIds(BigQueryWarehouse):
    """The real adapter, but with insert ids BigQuery has not seen (its dedup window passed)."""

    def __init__(self, inner: BigQueryWarehouse) -> None:
        self._inner = inner

    def insert_rows(self, table, rows, row_ids):  # type: ignore[no-untyped-def]
        return self._inner.insert_rows(table, rows, [f"late-{r}" for r in row_ids])
