"""Scheduled jobs by name. Cloud Scheduler (or the local scheduler) POSTs {"job": name}."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.destinations.backfill import run_backfill
from shared.errors import NotFound
from shared.tiering.sweep import run_sweep
from shared.warehouse.dedup import dedup_all
from shared.warehouse.users import refresh_users

if TYPE_CHECKING:
    from shared.bootstrap import Services

UNKNOWN_JOB = "Unknown job {name!r}; known jobs: {known}."


def _dedup(services: Services) -> dict[str, Any]:
    found = dedup_all(services.settings, services.sql)
    return {"deleted": sum(found.values()), "tables": found}


def _promotion_sweep(services: Services) -> dict[str, Any]:
    """Promote, attribute, then back-fill what entered the full pipeline (in that order: an id
    the sweep promotes is back-filled once its next event has entered)."""
    s = services
    swept = run_sweep(s.settings, s.sql, s.documents, s.clock)
    return {**swept, **run_backfill(s.settings, s.sql, s.documents, s.publisher, s.clock.now())}


JOBS: dict[str, Callable[[Services], dict[str, Any]]] = {
    "warehouse-dedup": _dedup,
    "warehouse-users": lambda s: {"users": refresh_users(s.settings, s.sql)},
    "tier-promotion-sweep": _promotion_sweep,
}


def run_job(name: str, services: Services) -> dict[str, Any]:
    job = JOBS.get(name)
    if job is None:
        raise NotFound(UNKNOWN_JOB.format(name=name, known=", ".join(sorted(JOBS))))
    return {"job": name, **job(services)}
