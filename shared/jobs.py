"""Scheduled jobs by name. Cloud Scheduler (or the local scheduler) POSTs {"job": name}."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.destinations.backfill import run_backfill
from shared.errors import NotFound
from shared.governance.quality_run import run_quality_checks
from shared.tiering.sweep import advance, entered_since, run_sweep, sweep_window
from shared.warehouse.dedup import dedup_all
from shared.warehouse.users import refresh_users

if TYPE_CHECKING:
    from shared.bootstrap import Services

UNKNOWN_JOB = "Unknown job {name!r}; known jobs: {known}."


def _dedup(services: Services) -> dict[str, Any]:
    found = dedup_all(services.settings, services.sql)
    return {"deleted": sum(found.values()), "tables": found}


def _promotion_sweep(services: Services) -> dict[str, Any]:
    """Promote, attribute, then back-fill the ids that entered the full pipeline since the last
    sweep; where it got to is recorded only once all of it succeeded (a failure redoes it)."""
    s = services
    now = s.clock.now()
    since, until = sweep_window(s.documents, s.settings, now)
    entered = entered_since(s.settings, s.sql, since, until)
    swept = run_sweep(s.settings, s.sql, s.documents, s.clock, entered, since)
    filled = run_backfill(s.settings, s.sql, s.documents, s.publisher, now, entered)
    advance(s.documents, until)
    return {**swept, **filled, "since": since.isoformat(), "until": until.isoformat()}


def _audiences(services: Services) -> dict[str, Any]:
    from shared.audiences.run import run_audiences

    return run_audiences(services).to_json()


def _sql_sources(services: Services) -> dict[str, Any]:
    from shared.audiences.sql_source import run_sql_sources

    return run_sql_sources(services).to_json()


JOBS: dict[str, Callable[[Services], dict[str, Any]]] = {
    "warehouse-dedup": _dedup,
    "warehouse-users": lambda s: {"users": refresh_users(s.settings, s.sql)},
    "tier-promotion-sweep": _promotion_sweep,
    "quality-checks": lambda s: run_quality_checks(s.settings, s.sql, s.http, s.clock),
    "audiences": _audiences,
    "sql-sources": _sql_sources,
}


def run_job(name: str, services: Services) -> dict[str, Any]:
    job = JOBS.get(name)
    if job is None:
        raise NotFound(UNKNOWN_JOB.format(name=name, known=", ".join(sorted(JOBS))))
    return {"job": name, **job(services)}
