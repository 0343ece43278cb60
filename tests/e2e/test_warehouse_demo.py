"""Demo traffic through the real SDK into the whole local stack: every accepted event lands in
exactly one tier, each processed table holds exactly what the engaged tier received, nothing
twice anywhere, and the users job (through the jobs function) sees every demo user."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.warehouse.dedup import TARGETS
from shared.warehouse.layers import TABLE_OF_TYPE
from tests.e2e.conftest import eventually, post

SEED = 23  # demo user ids are user-<seed>-<n>: distinct from other tests' traffic


def warehouse_of(stack: dict[str, Any]) -> BigQueryWarehouse:
    endpoint = stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    return BigQueryWarehouse(stack["project_id"], "EU", endpoint)


def snapshot(bq: BigQueryWarehouse, project: str) -> dict[str, Counter[str]]:
    """Rows per call type in each raw table, and per processed table."""

    def by_type(table: str) -> Counter[str]:
        rows = bq.query(f"SELECT type, COUNT(*) AS n FROM `{project}.{table}` GROUP BY type")
        return Counter({r["type"]: r["n"] for r in rows})

    processed = Counter(
        {
            call: bq.query(f"SELECT COUNT(*) AS n FROM `{project}.cdp_processed.{table}`")[0]["n"]
            for call, table in TABLE_OF_TYPE.items()
        }
    )
    return {
        "engaged": by_type("cdp_raw.events"),
        "cold": by_type("cdp_raw.cold_archive"),
        "processed": processed,
    }


def delta(after: dict[str, Counter[str]], before: dict[str, Counter[str]]) -> dict[str, Any]:
    return {k: {t: n for t, n in (after[k] - before[k]).items() if n} for k in after}


@pytest.mark.timeout(600)  # the stack's start and up to 240 s for the demo to land
def test_demo_traffic_fills_each_table_once(stack_env: dict[str, Any]) -> None:
    from shared.local.demo import run_demo

    bq, project = warehouse_of(stack_env), stack_env["project_id"]
    before = snapshot(bq, project)
    report = run_demo(stack_env, visitors=15, seed=SEED)
    assert report.errors == [] and report.total > 0

    def settled() -> dict[str, Any] | None:
        got = delta(snapshot(bq, project), before)
        landed = sum(got["engaged"].values()) + sum(got["cold"].values())
        return got if landed >= report.total and got["processed"] == got["engaged"] else None

    got = eventually(settled, timeout=240, every=1.0)
    # Every accepted call landed in exactly one tier: nothing lost, nothing twice.
    assert Counter(got["engaged"]) + Counter(got["cold"]) == report.sent
    # Each Segment-style table holds exactly what the engaged tier received.
    assert got["processed"] == got["engaged"]

    for target in TARGETS:
        table = f"{project}.cdp_{target.layer}.{target.table}"
        [row] = bq.query(f"SELECT COUNT(*) AS n, COUNT(DISTINCT {target.key}) AS d FROM `{table}`")
        assert row["n"] == row["d"], table

    status, body = post(stack_env["functions"]["jobs"]["url"], {"job": "warehouse-users"})
    assert status == 200 and body["job"] == "warehouse-users"
    users = bq.query(
        f"SELECT COUNT(*) AS n, COUNTIF(plan = 'free') AS free FROM `{project}.cdp_curated.users`"
        " WHERE user_id LIKE @prefix",
        {"prefix": f"user-{SEED}-%"},
    )
    assert users == [{"n": report.users, "free": report.users}]
