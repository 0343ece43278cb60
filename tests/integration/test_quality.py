"""The quality job's SQL on the BigQuery emulator, on a handful of rows: every check measures
what it should, the analysts' views drop PII keys, and a re-run replaces the hour's rows.

Only what the job reads and writes, and the two views the analysts' users are read through, are
made (each table or view costs the emulator a slow DDL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.bigquery import BigQueryWarehouse
from shared.destinations.slack import SlackSettings
from shared.governance.quality import QUALITY_CHECKS, QUALITY_PROPERTIES, QualitySettings
from shared.governance.quality_run import run_quality_checks
from shared.ports.clock import FakeClock
from shared.ports.http import FakeHttpSender
from shared.settings import Settings
from shared.warehouse.access import ANALYTICS
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    EVENTS_TABLE,
    FAILED_EVENTS_TABLE,
    OPS,
    PROCESSED,
    RAW,
    USERS_TABLE,
    USERS_VIEW,
)
from tests.conftest import PROJECT
from tests.integration.test_warehouse_loader import needed

HOUR = datetime(2026, 3, 10, 10, tzinfo=UTC)
USED = (
    f"{RAW}.{EVENTS_TABLE}",
    f"{RAW}.{COLD_ARCHIVE_TABLE}",
    f"{OPS}.{FAILED_EVENTS_TABLE}",
    f"{OPS}.{QUALITY_CHECKS.name}",
    f"{OPS}.{QUALITY_PROPERTIES.name}",
    f"{PROCESSED}.{USERS_TABLE}",
    f"{CURATED}.{USERS_VIEW}",
    f"{ANALYTICS}.{USERS_VIEW}",
)


def event(
    mid: str, source: str, at: datetime, props: dict[str, Any], name: str = "clicked"
) -> dict[str, Any]:
    return {
        "message_id": mid,
        "type": "track",
        "event": name,
        "source_id": source,
        "received_at": at.isoformat(),
        "loaded_at": at.isoformat(),
        "payload": {"type": "track", "event": name, "properties": props},
    }


def test_the_checks_run_on_the_emulator_and_a_rerun_replaces_the_hour(
    bigquery: BigQueryWarehouse, unique: str
) -> None:
    settings = Settings(
        project_id=PROJECT,
        dataset_prefix=f"it_{unique}",
        bigquery_endpoint="-",
        destinations=["slack"],
    )
    ops = settings.dataset(OPS)
    bigquery.ensure(needed(settings, *USED))  # its own: the checks count every row
    day, minute = timedelta(days=1), timedelta(minutes=1)
    rows = [
        event("a1", "web", HOUR - day + 5 * minute, {"x": 1}),
        event("a2", "web", HOUR - 2 * day + 5 * minute, {"x": 1}),
        event("b1", "web", HOUR + 10 * minute, {"x": 1, "y": 2}),
        event("b1", "web", HOUR + 11 * minute, {"x": 1, "y": 2}),  # redelivered
        event("b2", "web", HOUR + 12 * minute, {}, name="brand_new"),
        event("c1", "ios", HOUR - 5 * 60 * minute, {"z": 1}),
    ]
    assert not bigquery.insert_rows(
        f"{settings.dataset('raw')}.events", rows, [f"r{i}" for i in range(6)]
    )
    failed = [
        {
            "failed_id": f"f{i}",
            "stage": stage,
            "reason": "x",
            "source_id": "web",
            "recorded_at": (HOUR + 3 * minute).isoformat(),
        }
        for i, stage in enumerate(("ingest", "destination-slack"))
    ]
    assert not bigquery.insert_rows(f"{ops}.failed_events", failed, ["f0", "f1"])
    assert not bigquery.insert_rows(
        f"{settings.dataset('processed')}.users",
        [
            {
                "user_id": "u1",
                "traits": {
                    "email": "ann@example.com",
                    "phone": "+1555",
                    "first_name": "Ann",
                    "plan": "pro",
                },
                "first_seen_at": HOUR.isoformat(),
                "updated_at": HOUR.isoformat(),
                "refreshed_at": HOUR.isoformat(),
            }
        ],
        ["u1"],
    )

    http = FakeHttpSender()
    clock = FakeClock(HOUR + timedelta(hours=1, minutes=23))
    thresholds = QualitySettings(volume_days=2, volume_min_baseline=0.5)
    slack = SlackSettings(webhook_url="https://hooks.slack.example/T/B/x")
    out = run_quality_checks(settings, bigquery, http, clock, thresholds, slack)
    assert out["failed"] == [
        "ios:freshness",
        "web:volume",
        "web:schema_drift",
        "web:duplicate_rate",
        "web:failed_event_rate",
    ]
    got = {
        (r["source_id"], r["check"]): (r["status"], r["value"], r["detail"])
        for r in bigquery.query(f"SELECT * FROM `{settings.table('ops', 'quality_checks')}`")
    }
    assert got[("ios", "freshness")][:2] == ("fail", 360.0)
    assert got[("web", "freshness")][:2] == ("pass", 48.0)  # 10:12 to the hour's end
    assert got[("web", "volume")][:2] == ("fail", 3.0)  # 3 rows against one a day at 10:00
    assert got[("web", "schema_drift")][1:] == (1.0, "clicked.y; new events: brand_new")
    assert got[("web", "duplicate_rate")][1] == round(1 / 3, 4)
    assert got[("web", "failed_event_rate")][1:] == (0.5, "1 failed, 2 accepted")  # not Slack's
    assert got[("", "alert")][0] == "pass" and len(http.requests) == 1

    again = run_quality_checks(settings, bigquery, http, clock, thresholds, slack)
    [count] = bigquery.query(
        f"SELECT COUNT(*) AS n FROM `{settings.table('ops', 'quality_checks')}`"
    )
    assert (
        count["n"] == len(got) == 11
        and again["alert"].startswith("skip")
        and len(http.requests) == 1
    )

    [user] = bigquery.query(f"SELECT * FROM `{settings.table('analytics', 'users')}`")
    assert user["traits"] == {"plan": "pro"} and user["plan"] == "pro"
    assert not {"email", "phone", "first_name", "last_name"} & set(user)
