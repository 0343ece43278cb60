"""A privacy request and its steps: the model, and the pure decisions about it.

A request is one of Segment's regulation types. Its steps are planned once, when it is
received, from what is deployed (the warehouse's tables, the enabled destinations); the runner
then carries each one out, in order, and records every attempt. A step is:

    waiting      not tried yet (or its prerequisites are not done)
    done         carried out (``detail`` says what it removed)
    pending      tried, to be tried again later (BigQuery's streaming buffer, a provider's 429)
    failed       tried, and retrying cannot help (``detail`` says why)
    unsupported  nothing can be done there (a destination without a deletion API)
    skipped      nothing to do there (a table this deployment does not declare)

The request's status follows from its steps (``overall``): ``running`` until every step has
been tried, ``pending`` while a step waits for a retry, then ``done`` (or ``partial`` when a step
failed), and ``verified`` once ``cdp privacy verify`` found nothing of the person left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

DELETE_ONLY = "DELETE_ONLY"
SUPPRESS_ONLY = "SUPPRESS_ONLY"
SUPPRESS_WITH_DELETE = "SUPPRESS_WITH_DELETE"
UNSUPPRESS = "UNSUPPRESS"
TYPES = (DELETE_ONLY, SUPPRESS_ONLY, SUPPRESS_WITH_DELETE, UNSUPPRESS)
DELETES = frozenset({DELETE_ONLY, SUPPRESS_WITH_DELETE})

WAITING, DONE, PENDING, FAILED = "waiting", "done", "pending", "failed"
UNSUPPORTED, SKIPPED = "unsupported", "skipped"
FINAL = frozenset({DONE, FAILED, UNSUPPORTED, SKIPPED})

RUNNING, PARTIAL, VERIFIED = "running", "partial", "verified"

SUPPRESS_STEP = "suppress"
UNSUPPRESS_STEP = "unsuppress"
DEAD_LETTERS_STEP = "dead-letters"
BIGQUERY, FIRESTORE, DESTINATION = "bigquery", "firestore", "destination"

# A streaming-buffer refusal clears within about 90 minutes; other errors get fewer tries.
MAX_ATTEMPTS = 200
MAX_ERROR_ATTEMPTS = 12


@dataclass(frozen=True)
class Step:
    name: str  # "<store>:<target>" (bigquery:cdp_raw.events), or suppress / dead-letters
    status: str = WAITING
    attempts: int = 0
    detail: str = ""
    after: tuple[str, ...] = ()  # steps that must be done first
    at: str = ""

    @property
    def store(self) -> str:
        return self.name.partition(":")[0]

    @property
    def target(self) -> str:
        return self.name.partition(":")[2]

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "attempts": self.attempts,
                "detail": self.detail, "after": list(self.after), "at": self.at}  # fmt: skip

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Step:
        return cls(
            str(doc["name"]),
            str(doc.get("status") or WAITING),
            int(doc.get("attempts") or 0),
            str(doc.get("detail") or ""),
            tuple(doc.get("after") or ()),
            str(doc.get("at") or ""),
        )


@dataclass(frozen=True)
class Attempt:
    """What one try of a step came to: the status it leaves the step in and why."""

    status: str
    detail: str = ""
    error: bool = False  # an unexpected error (fewer retries than the streaming buffer)


@dataclass(frozen=True)
class Deployment:
    """What a request's steps are planned from."""

    tables: tuple[str, ...]  # dataset.table, every table that may hold the person
    message_tables: tuple[str, ...]  # of those, the ones found through the person's events
    event_tables: tuple[str, ...]  # the raw tables those events are found in (deleted last)
    collections: tuple[str, ...]
    destinations: tuple[str, ...]  # with a deletion API
    without_deletion: tuple[tuple[str, str], ...] = ()  # (destination, why)
    dead_letters: bool = True
    absent: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (step name, why)


def plan_steps(kind: str, deployment: Deployment) -> list[Step]:
    """The steps of a request of ``kind``. Suppression comes first, so nothing new of the
    person arrives while the rest runs; tables found through the person's events
    (violations, failed events) are cleared before the raw events they are found through."""
    if kind not in TYPES:
        raise ValueError(f"unknown request type {kind!r}")
    if kind == UNSUPPRESS:
        return [Step(UNSUPPRESS_STEP)]
    steps = [Step(SUPPRESS_STEP)] if kind != DELETE_ONLY else []
    if kind not in DELETES:
        return steps
    first = tuple(f"{BIGQUERY}:{t}" for t in deployment.message_tables)
    for table in deployment.tables:
        name = f"{BIGQUERY}:{table}"
        if table in deployment.event_tables:
            steps.append(Step(name, after=first))
        elif table in deployment.message_tables:
            index = deployment.message_tables.index(table)
            steps.append(Step(name, after=first[:index]))
        else:
            steps.append(Step(name))
    steps += [Step(name, SKIPPED, detail=why) for name, why in deployment.absent]
    steps += [Step(f"{FIRESTORE}:{c}") for c in deployment.collections]
    steps += [Step(f"{DESTINATION}:{d}") for d in deployment.destinations]
    steps += [
        Step(f"{DESTINATION}:{d}", UNSUPPORTED, detail=why)
        for d, why in deployment.without_deletion
    ]
    if deployment.dead_letters:
        steps.append(Step(DEAD_LETTERS_STEP))
    return steps


def ready(step: Step, steps: Sequence[Step]) -> bool:
    """Whether ``step`` may be tried now: not final, and what it waits for is done."""
    if step.status in FINAL:
        return False
    done = {s.name for s in steps if s.status in (DONE, SKIPPED)}
    return all(name in done for name in step.after)


def after_attempt(step: Step, attempt: Attempt, at: str) -> Step:
    """The step once ``attempt`` was made: a retry that has been refused too often fails."""
    tries = step.attempts + 1
    status = attempt.status
    limit = MAX_ERROR_ATTEMPTS if attempt.error else MAX_ATTEMPTS
    detail = attempt.detail
    if status == PENDING and tries >= limit:
        status, detail = FAILED, f"gave up after {tries} attempts: {detail}"
    return replace(step, status=status, attempts=tries, detail=detail, at=at)


def overall(steps: Iterable[Step]) -> str:
    """The request's status from its steps (see the module docstring)."""
    statuses = [s.status for s in steps]
    if any(s == WAITING for s in statuses):
        return RUNNING
    if any(s == PENDING for s in statuses):
        return PENDING
    if any(s == FAILED for s in statuses):
        return PARTIAL
    return DONE


# Segment's overallStatus for each of ours (GET /v1/regulations/<id>).
SEGMENT_STATUS = {
    RUNNING: "RUNNING",
    PENDING: "RUNNING",
    DONE: "FINISHED",
    VERIFIED: "FINISHED",
    PARTIAL: "PARTIAL_SUCCESS",
    FAILED: "FAILED",
}
