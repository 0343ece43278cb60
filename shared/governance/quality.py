"""Data quality: per source, each hour, five checks over numbers the warehouse returns.

Each check is a pure decision here (numbers in, ``pass``/``fail``/``skip`` out), so its edge
cases are table-tested without BigQuery; the SQL that produces the numbers is built in one place
(``quality_sql.py``) and the job that runs it, writes ``cdp_ops.quality_checks`` and alerts
Slack is ``quality_run.py``.

- ``freshness``: minutes from the source's newest received event to the end of the hour
  checked, against a maximum (per source if configured: a nightly batch is not a web app).
- ``volume``: events this hour against the same hour of day averaged over the trailing days
  (days without events count as zero), as a ratio that must stay inside a band; skipped while
  that average is too small for a ratio to mean anything.
- ``schema_drift``: properties (traits, for identifies) seen per event this hour that the
  trailing window never saw; events with no history are named in the detail, not counted.
- ``duplicate_rate``: rows per messageId in the raw tables beyond the first, as a share.
- ``failed_event_rate``: the source's failed events (any stage but destinations', whose
  refusals say nothing about the source's data) per accepted event.

Every check reads the hour ``[run_hour, run_hour + 1 h)`` and what precedes it, never the
clock, so re-running an hour recomputes the same answer and replaces its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.ports.warehouse import Column, Table

QUALITY_CHECKS_TABLE = "quality_checks"
QUALITY_PROPERTIES_TABLE = "quality_properties"

PASS, FAIL, SKIP = "pass", "fail", "skip"
FRESHNESS = "freshness"
VOLUME = "volume"
SCHEMA_DRIFT = "schema_drift"
DUPLICATE_RATE = "duplicate_rate"
FAILED_EVENT_RATE = "failed_event_rate"
ALERT = "alert"  # one row per run: whether Slack was told, or why not
CHECKS = (FRESHNESS, VOLUME, SCHEMA_DRIFT, DUPLICATE_RATE, FAILED_EVENT_RATE)
MAX_NAMED = 10  # properties named in a detail; the value counts all of them

QUALITY_CHECKS = Table(
    QUALITY_CHECKS_TABLE,
    (
        Column("run_hour", "TIMESTAMP", "REQUIRED", "The hour checked; a re-run replaces it."),
        Column("check", "STRING", "REQUIRED", ", ".join((*CHECKS, ALERT))),
        Column("source_id", "STRING", "REQUIRED", "Empty on the alert row."),
        Column("status", "STRING", "REQUIRED", "pass, fail or skip."),
        Column("value", "FLOAT64", description="What was measured (minutes, ratio, count)."),
        Column("threshold", "STRING", description="The bound it was held to."),
        Column("detail", "STRING"),
        Column("checked_at", "TIMESTAMP", "REQUIRED"),
    ),
    partition_field="run_hour",
    clustering=("check", "source_id"),
    description="One row per hourly run, check and source: pass, fail or skip.",
)

QUALITY_PROPERTIES = Table(
    QUALITY_PROPERTIES_TABLE,
    (
        Column("run_hour", "TIMESTAMP", "REQUIRED"),
        Column("source_id", "STRING", "REQUIRED"),
        Column("event", "STRING", "REQUIRED", "Track event name, or the call type."),
        Column("property", "STRING", "REQUIRED", "A top-level key of properties (traits)."),
    ),
    partition_field="run_hour",
    clustering=("source_id", "event"),
    description="Keys seen per source, event and hour: schema drift's memory, so a run reads "
    "a small table instead of days of raw payloads.",
)


class QualitySettings(BaseSettings):
    """Thresholds, from ``CDP_QUALITY_*``; the defaults suit a steady app's traffic."""

    model_config = SettingsConfigDict(env_prefix="CDP_QUALITY_", extra="ignore")

    lookback_days: int = Field(default=7, ge=1, le=60)  # sources checked: seen this long ago
    freshness_max_minutes: int = Field(default=120, ge=1)
    freshness_max_minutes_by_source: dict[str, int] = Field(default_factory=dict)
    volume_days: int = Field(default=7, ge=1, le=60)
    volume_min_ratio: float = Field(default=0.5, ge=0)
    volume_max_ratio: float = Field(default=2.0, gt=0)
    volume_min_baseline: float = Field(default=10.0, ge=0)  # trailing average, events/hour
    drift_days: int = Field(default=7, ge=1, le=60)
    drift_max_new_properties: int = Field(default=0, ge=0)
    duplicate_max_rate: float = Field(default=0.01, ge=0)
    failed_max_rate: float = Field(default=0.05, ge=0)

    def freshness_limit(self, source_id: str) -> int:
        return self.freshness_max_minutes_by_source.get(source_id, self.freshness_max_minutes)


@dataclass(frozen=True)
class Result:
    check: str
    source_id: str
    status: str  # pass | fail | skip
    value: float | None
    threshold: str
    detail: str = ""


def _status(ok: bool) -> str:
    return PASS if ok else FAIL


def freshness(source_id: str, age_minutes: float | None, max_minutes: int) -> Result:
    """``age_minutes``: from the newest event to the hour's end; None when none in lookback."""
    limit = f"<= {max_minutes} min"
    if age_minutes is None:
        return Result(FRESHNESS, source_id, SKIP, None, limit, "no event in the lookback window")
    ok = age_minutes <= max_minutes
    detail = "" if ok else f"newest event {age_minutes:.0f} min before the hour's end"
    return Result(FRESHNESS, source_id, _status(ok), round(age_minutes, 1), limit, detail)


def volume(
    source_id: str,
    current: int,
    trailing: int,
    days: int,
    min_ratio: float,
    max_ratio: float,
    min_baseline: float,
) -> Result:
    """``trailing``: events in the same hour of day over the last ``days`` days, summed."""
    band = f"{min_ratio:g}..{max_ratio:g} x the {days}-day average"
    average = trailing / days
    if average < min_baseline or average == 0:
        detail = f"{current} events; trailing average {average:.1f}/h < {min_baseline:g}"
        return Result(VOLUME, source_id, SKIP, None, band, detail)
    ratio = current / average
    ok = min_ratio <= ratio <= max_ratio
    detail = f"{current} events against an average of {average:.1f}"
    return Result(VOLUME, source_id, _status(ok), round(ratio, 3), band, detail)


def schema_drift(
    source_id: str,
    new: Sequence[tuple[str, str]],
    new_events: Sequence[str],
    has_history: bool,
    max_new: int,
) -> Result:
    """``new``: (event, property) pairs of events the trailing window saw, keys it did not."""
    limit = f"<= {max_new} new properties"
    if not has_history:
        return Result(SCHEMA_DRIFT, source_id, SKIP, None, limit, "no trailing history yet")
    named = [f"{event}.{prop}" for event, prop in sorted(new)[:MAX_NAMED]]
    more = len(new) - len(named)
    parts = [", ".join(named) + (f" and {more} more" if more > 0 else "")] if named else []
    if new_events:
        parts.append("new events: " + ", ".join(sorted(new_events)[:MAX_NAMED]))
    ok = len(new) <= max_new
    return Result(SCHEMA_DRIFT, source_id, _status(ok), float(len(new)), limit, "; ".join(parts))


def duplicate_rate(source_id: str, rows: int, distinct: int, max_rate: float) -> Result:
    limit = f"<= {max_rate:g}"
    if rows == 0:
        return Result(DUPLICATE_RATE, source_id, SKIP, None, limit, "no event this hour")
    extra = rows - distinct
    rate = extra / rows
    detail = f"{extra} duplicate rows of {rows}"
    return Result(
        DUPLICATE_RATE, source_id, _status(rate <= max_rate), round(rate, 4), limit, detail
    )


def failed_event_rate(source_id: str, failed: int, accepted: int, max_rate: float) -> Result:
    limit = f"<= {max_rate:g} failed per accepted"
    detail = f"{failed} failed, {accepted} accepted"
    if accepted == 0:
        status = SKIP if failed == 0 else FAIL
        return Result(FAILED_EVENT_RATE, source_id, status, None, limit, detail)
    rate = failed / accepted
    return Result(
        FAILED_EVENT_RATE, source_id, _status(rate <= max_rate), round(rate, 4), limit, detail
    )


def alert_text(run_hour: str, failed: Sequence[Result], table: str) -> str:
    """The Slack message for a run's failed checks (source ids and details come from data:
    the sender escapes the whole text)."""
    lines = [f"Data quality: {len(failed)} failed check(s) for the hour {run_hour}"]
    for r in failed[:20]:
        value = "" if r.value is None else f" = {r.value:g}"
        lines.append(f"- {r.source_id or '(none)'} {r.check}{value} ({r.threshold}) {r.detail}")
    if len(failed) > 20:
        lines.append(f"... and {len(failed) - 20} more in {table}")
    return "\n".join(lines)
