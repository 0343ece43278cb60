"""The ``quality-checks`` job: measure the last complete hour, decide, record, alert.

It runs hourly (at :23, so the hour's events have landed) and checks the hour before the one
it runs in, unless told which. Its rows in ``cdp_ops.quality_checks`` are replaced as a whole
(DML delete, then insert), so re-running an hour, by hand or by a retried schedule, leaves one
set of rows for it; the Slack alert is not sent twice for an hour once Slack took it.

Alerts go to the Slack destination's incoming webhook (``CDP_SLACK_WEBHOOK_URL``, its secret),
through the HTTP port; without Slack enabled the alert row says why nothing was sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.destinations.slack import ERRORS, SlackSettings, escape, message
from shared.errors import BackendUnavailable
from shared.governance.quality import (
    ALERT,
    FAIL,
    PASS,
    QUALITY_CHECKS_TABLE,
    SCHEMA_DRIFT,
    SKIP,
    QualitySettings,
    Result,
    alert_text,
    duplicate_rate,
    failed_event_rate,
    freshness,
    schema_drift,
    volume,
)
from shared.governance.quality_sql import QualitySql, Statement
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest, HttpSender
from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import OPS

HOUR = timedelta(hours=1)
NO_EVENT = "no event this hour"
NO_FAILURE = "no failed check"
ALREADY_SENT = "already sent for this hour"
NOT_ENABLED = "slack is not enabled (cdp:destinations)"
NO_WEBHOOK = "CDP_SLACK_WEBHOOK_URL is not set"


def hour_to_check(now: datetime) -> datetime:
    """The last complete hour before ``now``."""
    return now.replace(minute=0, second=0, microsecond=0) - HOUR


def alert_decision(
    failed: int, already_sent: bool, enabled: bool, webhook_url: str
) -> tuple[str, str] | None:
    """Why not to alert, as the alert row's (status, detail); None: send it."""
    for reason, applies in (
        (NO_FAILURE, failed == 0),
        (ALREADY_SENT, already_sent),
        (NOT_ENABLED, not enabled),
        (NO_WEBHOOK, not webhook_url),
    ):
        if applies:
            return SKIP, reason
    return None


@dataclass(frozen=True)
class Measures:
    """What the warehouse returned for one hour, by source."""

    newest: dict[str, datetime]
    volume: dict[str, Row]
    counts: dict[str, Row]
    failed: dict[str, int]
    drift: list[Row]

    def sources(self) -> list[str]:
        return sorted(s for s in {*self.newest, *self.failed} if s)


def _by_source(rows: Sequence[Row]) -> dict[str, Row]:
    return {str(r["source_id"]): r for r in rows}


def measure(sql: SqlRunner, q: QualitySql, hour: datetime, t: QualitySettings) -> Measures:
    end = hour + HOUR

    def run(statement: Statement) -> list[Row]:
        return sql.query(statement.sql, statement.params)

    drift_start = hour - timedelta(days=t.drift_days)
    [recorded] = run(q.recorded(drift_start, hour)) or [{"n": 0}]
    if not recorded["n"]:  # the first run: learn the trailing window from the raw tables once
        for statement in q.record_properties(drift_start, hour):
            run(statement)
    for statement in q.record_properties(hour, end):
        run(statement)
    newest = run(q.newest(end - timedelta(days=t.lookback_days), end))
    return Measures(
        newest={str(r["source_id"]): r["newest"] for r in newest},
        volume=_by_source(run(q.volume(hour, hour - timedelta(days=t.volume_days), end))),
        counts=_by_source(run(q.counts(hour, end))),
        failed={str(r["source_id"]): int(r["failed"]) for r in run(q.failed_events(hour, end))},
        drift=run(q.drift(hour, drift_start)),
    )


def decide(m: Measures, hour: datetime, t: QualitySettings) -> list[Result]:
    """Every check for every source, from the numbers alone."""
    end, results = hour + HOUR, []
    for source in m.sources():
        newest = m.newest.get(source)
        age = (end - newest).total_seconds() / 60 if newest is not None else None
        results.append(freshness(source, age, t.freshness_limit(source)))
        v = m.volume.get(source, {})
        results.append(
            volume(
                source,
                int(v.get("this_hour") or 0),
                int(v.get("trailing") or 0),
                t.volume_days,
                t.volume_min_ratio,
                t.volume_max_ratio,
                t.volume_min_baseline,
            )
        )
        c = m.counts.get(source, {})
        rows, messages = int(c.get("row_count") or 0), int(c.get("messages") or 0)
        results.append(_drift(source, m.drift, rows, t.drift_max_new_properties))
        results.append(duplicate_rate(source, rows, messages, t.duplicate_max_rate))
        results.append(
            failed_event_rate(source, m.failed.get(source, 0), messages, t.failed_max_rate)
        )
    return results


def _drift(source: str, rows: Sequence[Row], events_this_hour: int, max_new: int) -> Result:
    mine = [r for r in rows if r["source_id"] == source]
    if not events_this_hour:
        return Result(SCHEMA_DRIFT, source, SKIP, None, f"<= {max_new} new properties", NO_EVENT)
    history = all(r["source_before"] for r in mine)  # no row: every key of the hour was known
    new = [(r["event"], r["property"]) for r in mine if r["event_before"] and r["property"]]
    new_events = sorted({r["event"] for r in mine if not r["event_before"]})
    return schema_drift(source, new, new_events, history, max_new)


def send_alert(http: HttpSender, slack: SlackSettings, text: str, failed: int) -> tuple[str, str]:
    body = json.dumps(message(escape(text)), ensure_ascii=False).encode("utf-8")
    request = HttpRequest(
        "POST",
        slack.webhook_url,
        {"Content-Type": "application/json; charset=utf-8"},
        body,
        slack.timeout_seconds,
    )
    try:
        response = http.send(request)
    except BackendUnavailable:  # the URL is the credential: never in a detail
        return FAIL, "Slack did not answer"
    if 200 <= response.status < 300:
        return PASS, f"sent: {failed} failed check(s)"
    code = response.body.decode(errors="replace").strip()[:100]
    return FAIL, f"slack answered {response.status} {code}: {ERRORS.get(code, 'not sent')}"


def run_quality_checks(
    settings: Settings,
    sql: SqlRunner,
    http: HttpSender,
    clock: Clock,
    thresholds: QualitySettings | None = None,
    slack: SlackSettings | None = None,
    hour: datetime | None = None,
) -> dict[str, Any]:
    """Check ``hour`` (default: the last complete one), replace its rows, alert on failures."""
    t = thresholds or QualitySettings()
    hour = hour or hour_to_check(clock.now())
    q = QualitySql(settings)
    results = decide(measure(sql, q, hour, t), hour, t)
    failed = [r for r in results if r.status == FAIL]
    previous = sql.query(q.previous_alert(hour).sql, q.previous_alert(hour).params)
    slack = slack or SlackSettings()
    skipped = alert_decision(
        len(failed),
        any(r["status"] == PASS for r in previous),
        "slack" in settings.enabled_destinations(),
        slack.webhook_url,
    )
    table = settings.table(OPS, QUALITY_CHECKS_TABLE)
    status, detail = skipped or send_alert(
        http, slack, alert_text(hour.isoformat(), failed, table), len(failed)
    )
    alert = Result(ALERT, "", status, float(len(failed)), "any failed check", detail)
    for statement in q.replace_results(hour, clock.now(), [*results, alert]):
        sql.query(statement.sql, statement.params)
    return {
        "hour": hour.isoformat(),
        "checks": len(results),
        "failed": [f"{r.source_id}:{r.check}" for r in failed],
        "alert": f"{status}: {detail}",
    }
