"""The tracking plan's checks: what is wrong with one event, as a list of findings.

Each rule is a small pure function of one ``Subject`` (the event's values beside what the plan
says of it), run as a list, as rudder-server runs its validators. ``findings`` runs on every
event ingest accepted, so it reads only what the plan indexed once (``TrackingPlan.planned``):
dict lookups and ``isinstance``, no model validation, no regex compiled per call.

What a rule finds is named, never quoted: a finding's ``detail`` says which constraint failed
(``expected number, got string``, ``not one of …``) but never holds the value, because findings
are stored, logged and shown to operators, and a value sent in the wrong field can be a card
number. Which mode applies (allow, flag, block) is the caller's decision
(``TrackingPlan.modes_for``): the checks only say what they found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.governance.formats import DESCRIBED, FORMATS
from shared.governance.plan import NAMING, TRAITS, Planned, Property, TrackingPlan

UNPLANNED_EVENT = "unplanned_event"
UNPLANNED_PROPERTY = "unplanned_property"
MISSING_PROPERTY = "missing_property"
WRONG_TYPE = "wrong_type"
DEPRECATED_EVENT = "deprecated_event"

NOT_PLANNED = "not in the plan"
NOT_NAMED = "not in the plan, and not {naming}"
DEPRECATED = "deprecated"
MISSING = "required"
EXPECTED = "expected {type}, got {got}"
NOT_IN_ENUM = "not one of {values}"
BELOW = "below the minimum {bound:g}"
ABOVE = "above the maximum {bound:g}"
NOT_FORMAT = "not {what}"
NO_MATCH = "does not match {pattern}"


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
    planned = s.planned.properties
    found: list[Finding] = []
    for name, value in s.values.items():
        prop = planned.get(name)
        if prop is not None and value is not None:
            problem = value_problem(prop, value)
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


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_integer(value: Any) -> bool:
    """JSON has one number type: ``3.0`` is an integer too."""
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: type(v) is int or type(v) is float,  # type(): bool is not a number
    "integer": _is_integer,
    "boolean": lambda v: type(v) is bool,
    "timestamp": _is_timestamp,
}
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
              list: "array"}  # fmt: skip


def value_problem(prop: Property, value: Any) -> str:
    """What is wrong with a present, non-null value ('' when nothing is)."""
    if not TYPE_CHECKS[prop.type](value):
        return EXPECTED.format(type=prop.type, got=JSON_TYPES.get(type(value), "other"))
    allowed = prop.allowed
    if allowed is not None and value not in allowed:
        return NOT_IN_ENUM.format(values=", ".join(str(v) for v in prop.enum or ()))
    if type(value) is str:  # formats and patterns apply to strings, ranges to numbers
        if prop.format is not None and not FORMATS[prop.format](value):
            return NOT_FORMAT.format(what=DESCRIBED[prop.format])
        regex = prop.regex
        if regex is not None and regex.fullmatch(value) is None:
            return NO_MATCH.format(pattern=prop.pattern)
        return ""
    if prop.minimum is not None and value < prop.minimum:
        return BELOW.format(bound=prop.minimum)
    if prop.maximum is not None and value > prop.maximum:
        return ABOVE.format(bound=prop.maximum)
    return ""


def subject(plan: TrackingPlan, event: Mapping[str, Any], source_kind: str) -> Subject | None:
    """What the plan checks of this call: a track's properties, an identify's traits; None for
    the other calls (page, screen, group, alias), which the plan does not describe."""
    call = event.get("type")
    if call == "track":
        name = event.get("event")
        name = name if isinstance(name, str) else ""
        values = event.get("properties")
        planned = plan.planned(name)
    elif call == "identify":
        name, values, planned = TRAITS, event.get("traits"), plan.traits_index
    else:
        return None
    values = values if isinstance(values, dict) else {}
    return Subject(name, values, planned, source_kind, plan.naming)


def findings(plan: TrackingPlan, event: Mapping[str, Any], source_kind: str) -> list[Finding]:
    """Every finding on ``event`` (as ingest enriched it), from a source of ``source_kind``."""
    s = subject(plan, event, source_kind)
    if s is None:
        return []
    found: list[Finding] = []
    for rule in RULES:
        found.extend(rule(s))
    return found
