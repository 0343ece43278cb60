"""The tracking plan's checks: what is wrong with one event, as a list of findings.

Each rule is a small pure function of one ``Subject`` (the event's values beside what the plan
says of it), run as a list, as rudder-server runs its validators. ``findings`` runs on every
event ingest accepted, so it reads only what the plan indexed once (``TrackingPlan.index``):
plain dicts, sets and each property's check compiled into a closure (``Planned.validators``),
no pydantic attribute read, no model validation, no regex compiled per call. Most events are
clean, so ``findings`` first makes one pass that can only say "nothing to find" (``clean``)
and runs the rules when it cannot; the rules alone decide what is found and in which order.

What a rule finds is named, never quoted: a finding's ``detail`` says which constraint failed
(``expected number, got string``, ``not one of …``) but never holds the value, because findings
are stored, logged and shown to operators, and a value sent in the wrong field can be a card
number. Which mode applies (allow, flag, block) is the caller's decision
(``TrackingPlan.modes_for``): the checks only say what they found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.governance.formats import (
    ABOVE,
    BELOW,
    EXPECTED,
    JSON_TYPES,
    NO_MATCH,
    NOT_FORMAT,
    NOT_IN_ENUM,
    TYPE_CHECKS,
)
from shared.governance.plan import NAMING, TRAITS, Planned, Property, TrackingPlan

# The value messages live beside the value checks (formats); named here too, for callers.
__all__ = [
    "ABOVE",
    "BELOW",
    "EXPECTED",
    "JSON_TYPES",
    "NOT_FORMAT",
    "NOT_IN_ENUM",
    "NO_MATCH",
    "TYPE_CHECKS",
    "Finding",
    "findings",
    "value_problem",
]

UNPLANNED_EVENT = "unplanned_event"
UNPLANNED_PROPERTY = "unplanned_property"
MISSING_PROPERTY = "missing_property"
WRONG_TYPE = "wrong_type"
DEPRECATED_EVENT = "deprecated_event"

NOT_PLANNED = "not in the plan"
NOT_NAMED = "not in the plan, and not {naming}"
DEPRECATED = "deprecated"
MISSING = "required"


@dataclass(frozen=True)
class Finding:
    kind: str
    event: str
    property: str = ""
    detail: str = ""


@dataclass(slots=True)
class Subject:
    """One event's values (a track's properties, an identify's traits) and its plan entry."""

    name: str
    values: Mapping[str, Any]
    planned: Planned | None  # None: the plan does not have this event
    source_kind: str
    naming: str


NOTHING: tuple[Finding, ...] = ()


def unplanned_event(s: Subject) -> Sequence[Finding]:
    if s.planned is not None:
        return NOTHING
    named = NAMING[s.naming].match(s.name) is not None
    detail = NOT_PLANNED if named else NOT_NAMED.format(naming=s.naming)
    return (Finding(UNPLANNED_EVENT, s.name, "", detail),)


def deprecated_event(s: Subject) -> Sequence[Finding]:
    if s.planned is None or s.planned.status != "deprecated":
        return NOTHING
    return (Finding(DEPRECATED_EVENT, s.name, "", s.planned.replacement or DEPRECATED),)


def missing_property(s: Subject) -> Sequence[Finding]:
    """A required property absent or null; ``required_for`` limits it to some source kinds."""
    if s.planned is None:
        return NOTHING
    return [
        Finding(MISSING_PROPERTY, s.name, name, MISSING)
        for name, kinds in s.planned.required
        if s.values.get(name) is None and (not kinds or s.source_kind in kinds)
    ]


def unplanned_property(s: Subject) -> Sequence[Finding]:
    if s.planned is None:
        return NOTHING
    planned = s.planned.properties
    return [Finding(UNPLANNED_PROPERTY, s.name, k) for k in s.values if k not in planned]


def wrong_type(s: Subject) -> Sequence[Finding]:
    """Type, then enum, range, format and pattern; a null value is an absent one."""
    if s.planned is None:
        return NOTHING
    validators = s.planned.validators
    found: list[Finding] = []
    for name, value in s.values.items():
        check = validators.get(name)
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                found.append(Finding(WRONG_TYPE, s.name, name, problem))
    return found


RULES: tuple[Callable[[Subject], Sequence[Finding]], ...] = (
    unplanned_event,
    deprecated_event,
    missing_property,
    unplanned_property,
    wrong_type,
)


def value_problem(prop: Property, value: Any) -> str:
    """What is wrong with a present, non-null value ('' when nothing is)."""
    return prop.check(value)


def clean(planned: Planned, values: Mapping[str, Any], source_kind: str) -> bool:
    """True when no rule can find anything: one pass over the values, every name planned,
    every value valid, every required name there. It only ever answers True when ``RULES``
    would find nothing (the equivalence test holds it to that), and answers False on any
    doubt, so the rules stay the one statement of what is found, run only when something is.
    Most events are clean, and running five rules over a ``Subject`` cost three times this."""
    if planned.status == "deprecated":
        return False
    validators = planned.validators
    nulls = False
    for name, value in values.items():
        check = validators.get(name)
        if check is None:
            return False
        if value is None:
            nulls = True
        elif check(value):
            return False
    required = planned.required_by_kind.get(source_kind, planned.required_of_any)
    if nulls:
        return all(values.get(name) is not None for name in required)
    return values.keys() >= required


def findings(plan: TrackingPlan, event: Mapping[str, Any], source_kind: str) -> list[Finding]:
    """Every finding on ``event`` (as ingest enriched it), from a source of ``source_kind``."""
    call = event.get("type")
    if call == "track":
        name = event.get("event")
        name = name if isinstance(name, str) else ""
        values = event.get("properties")
        planned = plan.index.get(name)
    elif call == "identify":
        name, values, planned = TRAITS, event.get("traits"), plan.traits_index
    else:
        return []  # page, screen, group, alias: the plan does not describe them
    values = values if isinstance(values, dict) else {}
    if planned is not None and clean(planned, values, source_kind):
        return []
    s = Subject(name, values, planned, source_kind, plan.naming)
    found: list[Finding] = []
    for rule in RULES:
        found.extend(rule(s))
    return found
