"""The pure decisions of privacy requests: which steps, in what order, and what status."""

from __future__ import annotations

import pytest

from shared.governance.privacy.requests import (
    DELETE_ONLY,
    DONE,
    FAILED,
    MAX_ERROR_ATTEMPTS,
    PARTIAL,
    PENDING,
    RUNNING,
    SKIPPED,
    SUPPRESS_ONLY,
    SUPPRESS_WITH_DELETE,
    UNSUPPORTED,
    UNSUPPRESS,
    WAITING,
    Attempt,
    Deployment,
    Step,
    after_attempt,
    overall,
    plan_steps,
    ready,
)

DEPLOYMENT = Deployment(
    tables=("ops.violation_events", "ops.failed_events", "processed.tracks", "raw.events"),
    message_tables=("ops.violation_events", "ops.failed_events"),
    event_tables=("raw.events",),
    collections=("identifiers", "profiles"),
    destinations=("amplitude",),
    without_deletion=(("meta", "no deletion API"),),
    absent=(("bigquery:ops.quality", "not declared"),),
)


@pytest.mark.parametrize(
    ("kind", "first", "deletes"),
    [
        (SUPPRESS_WITH_DELETE, "suppress", True),
        (DELETE_ONLY, "bigquery:ops.violation_events", True),
        (SUPPRESS_ONLY, "suppress", False),
        (UNSUPPRESS, "unsuppress", False),
    ],
)
def test_each_type_plans_its_steps(kind: str, first: str, deletes: bool) -> None:
    steps = plan_steps(kind, DEPLOYMENT)
    names = [s.name for s in steps]
    assert names[0] == first
    assert ("firestore:profiles" in names) is deletes
    assert ("destination:amplitude" in names) is deletes
    assert ("dead-letters" in names) is deletes
    if not deletes:
        assert len(steps) == 1


def test_tables_found_through_events_go_before_the_events() -> None:
    steps = {s.name: s for s in plan_steps(DELETE_ONLY, DEPLOYMENT)}
    assert steps["bigquery:ops.violation_events"].after == ()
    assert steps["bigquery:ops.failed_events"].after == ("bigquery:ops.violation_events",)
    assert set(steps["bigquery:raw.events"].after) == {
        "bigquery:ops.violation_events",
        "bigquery:ops.failed_events",
    }
    assert steps["bigquery:processed.tracks"].after == ()
    assert steps["destination:meta"].status == UNSUPPORTED
    assert steps["bigquery:ops.quality"].status == SKIPPED


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown request type"):
        plan_steps("DELETE_EVERYTHING", DEPLOYMENT)


def test_a_step_waits_for_what_it_needs() -> None:
    first, second = Step("a"), Step("b", after=("a",))
    assert ready(first, [first, second]) and not ready(second, [first, second])
    done = Step("a", DONE)
    assert ready(second, [done, second])
    assert not ready(done, [done, second])  # final: never tried again
    assert ready(Step("c", PENDING), [Step("c", PENDING)])


@pytest.mark.parametrize(
    ("attempts", "attempt", "status"),
    [
        (0, Attempt(DONE, "deleted 3 rows"), DONE),
        (0, Attempt(PENDING, "streaming buffer"), PENDING),
        (150, Attempt(PENDING, "streaming buffer"), PENDING),
        (199, Attempt(PENDING, "streaming buffer"), FAILED),
        (MAX_ERROR_ATTEMPTS - 1, Attempt(PENDING, "boom", error=True), FAILED),
        (3, Attempt(PENDING, "boom", error=True), PENDING),
    ],
)
def test_after_an_attempt(attempts: int, attempt: Attempt, status: str) -> None:
    step = after_attempt(Step("x", PENDING, attempts), attempt, "2026-01-01T00:00:00+00:00")
    assert (step.status, step.attempts) == (status, attempts + 1)
    assert step.at == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([DONE, WAITING], RUNNING),
        ([DONE, PENDING, FAILED], PENDING),
        ([DONE, FAILED, UNSUPPORTED], PARTIAL),
        ([DONE, UNSUPPORTED, SKIPPED], DONE),
    ],
)
def test_overall_status(statuses: list[str], expected: str) -> None:
    assert overall(Step(str(n), s) for n, s in enumerate(statuses)) == expected
