"""Each quality check as a table of cases, then the run over a fake warehouse: what it records,
when it alerts Slack, and that re-running an hour replaces its rows and does not re-alert."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.destinations.slack import SlackSettings
from shared.errors import BackendUnavailable
from shared.governance.quality import (
    FAIL,
    PASS,
    SKIP,
    QualitySettings,
    alert_text,
    duplicate_rate,
    failed_event_rate,
    freshness,
    schema_drift,
    volume,
)
from shared.governance.quality_run import (
    ALREADY_SENT,
    NO_FAILURE,
    NO_WEBHOOK,
    NOT_ENABLED,
    alert_decision,
    hour_to_check,
    run_quality_checks,
)
from shared.ports.clock import FakeClock
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse
from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings

HOUR = datetime(2026, 3, 10, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "limit", "status"),
    [(None, 60, SKIP), (0.0, 60, PASS), (60.0, 60, PASS), (60.5, 60, FAIL), (600.0, 720, PASS)],
)
def test_freshness(age: float | None, limit: int, status: str) -> None:
    assert freshness("web", age, limit).status == status


@pytest.mark.parametrize(
    ("current", "trailing", "days", "status", "value"),
    [
        (100, 700, 7, PASS, 1.0),
        (50, 700, 7, PASS, 0.5),  # the band's edges pass
        (200, 700, 7, PASS, 2.0),
        (49, 700, 7, FAIL, 0.49),
        (201, 700, 7, FAIL, 2.01),
        (0, 700, 7, FAIL, 0.0),  # a source that went silent
        (30, 30, 7, SKIP, None),  # an average of ~4/h is too small to judge
        (5, 0, 7, SKIP, None),  # no history
        (100, 350, 7, PASS, 2.0),  # missing days count as zero, not as absent
    ],
)
def test_volume(current: int, trailing: int, days: int, status: str, value: float | None) -> None:
    result = volume("web", current, trailing, days, 0.5, 2.0, 10)
    assert (result.status, result.value) == (status, value)


@pytest.mark.parametrize(
    ("new", "new_events", "history", "max_new", "status"),
    [
        ([], [], True, 0, PASS),
        ([("clicked", "y")], [], True, 0, FAIL),
        ([("clicked", "y")], [], True, 1, PASS),
        ([], ["brand_new"], True, 0, PASS),  # a new event is named, not counted
        ([("clicked", "y")], [], False, 0, SKIP),  # a new source has nothing to drift from
    ],
)
def test_schema_drift(
    new: list[tuple[str, str]], new_events: list[str], history: bool, max_new: int, status: str
) -> None:
    assert schema_drift("web", new, new_events, history, max_new).status == status


def test_schema_drift_names_a_few_properties_and_counts_all() -> None:
    new = [("e", f"p{i:02}") for i in range(25)]
    result = schema_drift("web", new, ["x"], True, 0)
    assert result.value == 25.0
    assert (
        result.detail.startswith("e.p00, e.p01") and "and 15 more; new events: x" in result.detail
    )


@pytest.mark.parametrize(
    ("rows", "distinct", "status", "value"),
    [(0, 0, SKIP, None), (100, 100, PASS, 0.0), (100, 99, PASS, 0.01), (100, 98, FAIL, 0.02)],
)
def test_duplicate_rate(rows: int, distinct: int, status: str, value: float | None) -> None:
    result = duplicate_rate("web", rows, distinct, 0.01)
    assert (result.status, result.value) == (status, value)


@pytest.mark.parametrize(
    ("failed", "accepted", "status", "value"),
    [
        (0, 0, SKIP, None),
        (3, 0, FAIL, None),
        (0, 10, PASS, 0.0),
        (5, 100, PASS, 0.05),
        (6, 100, FAIL, 0.06),
    ],
)
def test_failed_event_rate(failed: int, accepted: int, status: str, value: float | None) -> None:
    result = failed_event_rate("web", failed, accepted, 0.05)
    assert (result.status, result.value) == (status, value)


@pytest.mark.parametrize(
    ("failed", "sent", "enabled", "url", "expected"),
    [
        (0, False, True, "https://h", (SKIP, NO_FAILURE)),
        (2, True, True, "https://h", (SKIP, ALREADY_SENT)),
        (2, False, False, "https://h", (SKIP, NOT_ENABLED)),
        (2, False, True, "", (SKIP, NO_WEBHOOK)),
        (2, False, True, "https://h", None),
    ],
)
def test_alert_decision(
    failed: int, sent: bool, enabled: bool, url: str, expected: tuple[str, str] | None
) -> None:
    assert alert_decision(failed, sent, enabled, url) == expected


def test_the_hour_checked_is_the_last_complete_one() -> None:
    assert hour_to_check(datetime(2026, 3, 10, 11, 23, 5, tzinfo=UTC)) == HOUR


def test_alert_text_lists_failed_checks_and_points_at_the_table() -> None:
    failed = [volume("web", 0, 700, 7, 0.5, 2.0, 10)] * 21
    text = alert_text("2026-03-10T10:00:00+00:00", failed, "p.cdp_ops.quality_checks")
    assert text.splitlines()[1].startswith("- web volume = 0 (0.5..2 x the 7-day average)")
    assert text.endswith("... and 1 more in p.cdp_ops.quality_checks")


class FakeQualitySql(SqlRunner):
    """Answers the job's reads by what their SQL selects, keeps its writes as rows: enough to
    see what the run decides and records. The SQL itself runs on the emulator (integration)."""

    def __init__(self, answers: Mapping[str, list[Row]]) -> None:
        self.answers = answers
        self.rows: list[Row] = []  # quality_checks
        self.statements: list[str] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        p = dict(params or {})
        self.statements.append(sql)
        if sql.lstrip().startswith("DELETE FROM") and "quality_checks" in sql:
            self.rows = [r for r in self.rows if r["run_hour"] != p["hour"]]
        elif sql.lstrip().startswith("INSERT INTO") and "quality_checks" in sql:
            count = sum(1 for k in p if k.startswith("check_"))
            self.rows += [
                {
                    "run_hour": p["hour"],
                    "check": p[f"check_{i}"],
                    "source_id": p[f"source_{i}"],
                    "status": p[f"status_{i}"],
                    "value": p[f"value_{i}"],
                    "detail": p[f"detail_{i}"],
                }
                for i in range(count)
            ]
        elif "SELECT status FROM" in sql:
            return [r for r in self.rows if r["run_hour"] == p["hour"] and r["check"] == "alert"]
        for marker, rows in self.answers.items():
            if marker in sql:
                return rows
        return []


def answers(newest_minutes_ago: float = 10, failed: int = 0, dups: int = 0) -> dict[str, list[Row]]:
    end = HOUR + timedelta(hours=1)
    return {
        "COUNT(*) AS n FROM": [{"n": 12}],
        "MAX(received_at) AS newest": [
            {"source_id": "web", "newest": end - timedelta(minutes=newest_minutes_ago)}
        ],
        "AS this_hour": [{"source_id": "web", "this_hour": 100, "trailing": 700}],
        "AS row_count": [{"source_id": "web", "row_count": 100 + dups, "messages": 100}],
        "COUNT(DISTINCT failed_id)": [{"source_id": "web", "failed": failed}] if failed else [],
        "k.source_id, k.event": [],
    }


def run(sql: FakeQualitySql, http: FakeHttpSender, slack: bool = True) -> dict[str, Any]:
    settings = Settings(destinations=["slack"] if slack else [])
    return run_quality_checks(
        settings,
        sql,
        http,
        FakeClock(HOUR + timedelta(hours=1, minutes=23)),
        QualitySettings(),
        SlackSettings(webhook_url="https://hooks.slack.example/T/B/x"),
    )


def test_a_healthy_hour_records_five_passes_and_sends_nothing() -> None:
    sql, http = FakeQualitySql(answers()), FakeHttpSender()
    out = run(sql, http)
    assert {r["check"]: r["status"] for r in sql.rows if r["source_id"] == "web"} == {
        "freshness": PASS,
        "volume": PASS,
        "schema_drift": PASS,
        "duplicate_rate": PASS,
        "failed_event_rate": PASS,
    }
    assert out["alert"] == f"skip: {NO_FAILURE}" and not http.requests


def test_failed_checks_alert_slack_once_per_hour_and_a_rerun_replaces_the_rows() -> None:
    sql, http = FakeQualitySql(answers(newest_minutes_ago=300, failed=9)), FakeHttpSender()
    out = run(sql, http)
    assert out["failed"] == ["web:freshness", "web:failed_event_rate"]
    [request] = http.requests
    body = json.loads(request.body)
    assert request.url == "https://hooks.slack.example/T/B/x"
    assert "web freshness = 300 (&lt;= 120 min)" in body["text"]  # escaped as Slack asks
    first = list(sql.rows)
    again = run(sql, http)
    assert len(http.requests) == 1 and again["alert"] == f"skip: {ALREADY_SENT}"
    assert len(sql.rows) == len(first) == 6  # five checks and the alert row, once
    [alert] = [r for r in sql.rows if r["check"] == "alert"]
    assert alert["status"] == SKIP and alert["detail"] == ALREADY_SENT


def test_without_slack_enabled_the_alert_row_says_why() -> None:
    sql, http = FakeQualitySql(answers(dups=5)), FakeHttpSender()
    assert run(sql, http, slack=False)["alert"] == f"skip: {NOT_ENABLED}"
    assert not http.requests


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        (HttpResponse(404, body=b"no_service"), "slack answered 404 no_service: the webhook is"),
        (None, "Slack did not answer"),
    ],
)
def test_slack_refusing_the_alert_is_recorded_without_the_url(
    response: HttpResponse | None, detail: str
) -> None:
    def answer(_request: HttpRequest) -> HttpResponse:
        if response is None:
            raise BackendUnavailable("connection refused")
        return response

    sql = FakeQualitySql(answers(dups=5))
    out = run(sql, FakeHttpSender(answer))
    [alert] = [r for r in sql.rows if r["check"] == "alert"]
    assert alert["status"] == FAIL and alert["detail"].startswith(detail)
    assert "hooks.slack" not in out["alert"] + alert["detail"]


def test_the_first_run_learns_the_trailing_window_from_the_raw_tables() -> None:
    first = FakeQualitySql({**answers(), "COUNT(*) AS n FROM": [{"n": 0}]})
    run(first, FakeHttpSender())
    later = FakeQualitySql(answers())
    run(later, FakeHttpSender())
    recorded = [
        s
        for s in first.statements
        if s.lstrip().startswith("INSERT INTO") and "quality_properties" in s
    ]
    assert len(recorded) == 2  # the window once, then the hour
    assert len([s for s in later.statements if "quality_properties` (run_hour" in s]) == 1


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_QUALITY_FRESHNESS_MAX_MINUTES", "30")
    monkeypatch.setenv("CDP_QUALITY_FRESHNESS_MAX_MINUTES_BY_SOURCE", '{"batch": 1500}')
    t = QualitySettings()
    assert (t.freshness_limit("web"), t.freshness_limit("batch")) == (30, 1500)
