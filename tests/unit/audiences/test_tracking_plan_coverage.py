"""The shipped audiences against the shipped tracking plan: every audience's identify trait
(``<audience_key>: true|false``) is a boolean plan trait and every carried trait a property of
``Audience Entered`` / ``Audience Exited`` (``x-audience``), so an audience that forgets the
plan fails here, not as findings (or, under enforcement, blocked events) on every run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.audiences.definitions import Definitions, load_definitions
from shared.audiences.emit import AUDIENCES_SOURCE, events_for
from shared.audiences.memberships import ENTERED, EXITED, Person, Transition
from shared.audiences.names import AUDIENCE_EVENTS
from shared.governance.checks import findings
from shared.governance.plan import TrackingPlan, load_plan

DEFS = load_definitions()
PLAN = load_plan()
AS_OF = datetime(2026, 1, 8, 12, tzinfo=UTC)
# a value of each aggregate's kind, as a run's row gives it to the events (values.json_safe)
SAMPLE: dict[str, Any] = {
    "count": 3, "unique_count": 2, "sum": 812.5, "min": 1.5, "max": 99.0, "first": "card",
    "last": "ach", "most_frequent": "card", "unique_list": ["ach", "card"],
    "first_at": "2026-01-01T00:00:00.000Z", "last_at": "2026-01-07T00:00:00.000Z",
}  # fmt: skip


def gaps(defs: Definitions, plan: TrackingPlan) -> list[str]:
    """What the plan lacks for the definitions' audiences."""
    found = []
    for key, audience in defs.audiences.items():
        trait = plan.traits.get(key)
        if trait is None or trait.type != "boolean":
            found.append(f"traits.{key}: a boolean trait (the audience's identify sets it)")
        for carried in audience.carry:
            for event in AUDIENCE_EVENTS:
                if carried not in plan.typed_properties(event):
                    found.append(f"{event}.{carried}: a property (x-audience) {key} carries")
    return found


def test_every_shipped_audience_is_in_the_tracking_plan() -> None:
    assert gaps(DEFS, PLAN) == []


def test_an_audience_the_plan_lacks_is_named() -> None:
    data = DEFS.model_dump(by_alias=True, exclude_none=True)
    data["audiences"]["big_spenders"] = {
        **data["audiences"]["churn_risk"], "name": "Big spenders", "carry": ["transactions_30d"]
    }  # fmt: skip
    data["groups"] = {}
    assert gaps(Definitions.model_validate(data), PLAN) == [
        "traits.big_spenders: a boolean trait (the audience's identify sets it)",
        *(f"{e}.transactions_30d: a property (x-audience) big_spenders carries"
          for e in AUDIENCE_EVENTS),
    ]  # fmt: skip


@pytest.mark.parametrize("key", list(DEFS.audiences))
@pytest.mark.parametrize("transition", [ENTERED, EXITED])
def test_the_events_a_run_emits_have_no_findings(key: str, transition: str) -> None:
    traits = {k: SAMPLE[t.aggregate] for k, t in DEFS.traits.items()}
    people = {"p1": Person("p1", "u1", None, traits, frozenset({key}))}
    change = Transition(key, "p1", "u1", None, transition)
    events = events_for([change], people, DEFS.audiences, AS_OF)
    assert [e["type"] for e in events] == ["track", "identify"]
    for event in events:
        assert findings(PLAN, event, AUDIENCES_SOURCE.kind) == [], event
