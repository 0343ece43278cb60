"""``cdp plan diff``: each kind of change, compatible or breaking."""

from __future__ import annotations

import pytest

from shared.governance.diff import BREAKING, COMPATIBLE, breaking, diff, version_note
from shared.governance.plan import load_plan, parse_plan

B, C = BREAKING, COMPATIBLE
A, M = "events.paid.properties.amount", "events.paid.properties.method"
AMOUNT = "events: {paid: {properties: {amount: {type: number%s}}}}"
METHOD = "events: {paid: {properties: {method: {type: string%s}}}}"


def prop(template: str, extra: str = "") -> str:
    return template % (", " + extra if extra else "")


CASES = [
    # events
    ("events: {a: {}, b: {}}", "events: {a: {}}", [(B, "events.b", "event removed")]),
    ("events: {a: {}}", "events: {a: {}, b: {status: draft}}",
     [(C, "events.b", "event added (draft)")]),
    ("events: {a: {}}", "events: {a: {status: deprecated, replacement: b}}",
     [(C, "events.a", "status active → deprecated")]),
    ("platform_events: {Email Opened: {}}", "platform_events: {}",
     [(B, "platform_events.Email Opened", "event removed")]),
    # properties
    (prop(AMOUNT), "events: {paid: {}}", [(B, A, "property removed")]),
    ("events: {paid: {}}", prop(AMOUNT), [(C, A, "optional property added")]),
    ("events: {paid: {}}", prop(AMOUNT, "required: true"),
     [(B, A, "required property added")]),
    (prop(AMOUNT), prop(AMOUNT).replace("number", "string"),
     [(B, A, "retyped number → string")]),
    (prop(AMOUNT), prop(AMOUNT, "required: true"),
     [(B, A, "optional → required")]),
    (prop(AMOUNT, "required: true"), prop(AMOUNT),
     [(C, A, "required → optional")]),
    (prop(AMOUNT, "required: true, required_for: [web]"), prop(AMOUNT, "required: true"),
     [(B, A, "required (web) → required")]),
    (prop(AMOUNT, "required: true"), prop(AMOUNT, "required: true, required_for: [web, ios]"),
     [(C, A, "required → required (web, ios)")]),
    (prop(AMOUNT, "required: true, required_for: [web]"),
     prop(AMOUNT, "required: true, required_for: [web, ios]"),
     [(B, A, "required (web) → required (web, ios)")]),
    # enums
    (prop(METHOD), prop(METHOD, "enum: [ach]"),
     [(B, M, "enum added: ach")]),
    (prop(METHOD, "enum: [ach, wire]"), prop(METHOD, "enum: [ach]"),
     [(B, M, "enum narrowed: wire removed")]),
    (prop(METHOD, "enum: [ach]"), prop(METHOD, "enum: [ach, pos]"),
     [(C, M, "enum widened: pos added")]),
    (prop(METHOD, "enum: [ach]"), prop(METHOD),
     [(C, M, "enum removed: any value passes")]),
    (prop(METHOD, "enum: [ach, wire]"), prop(METHOD, "enum: [wire, ach]"), []),
    # ranges
    (prop(AMOUNT), prop(AMOUNT, "minimum: 0"), [(B, A, "minimum (none) → 0")]),
    (prop(AMOUNT, "minimum: 0"), prop(AMOUNT, "minimum: 1"), [(B, A, "minimum 0 → 1")]),
    (prop(AMOUNT, "minimum: 1"), prop(AMOUNT, "minimum: 0"), [(C, A, "minimum 1 → 0")]),
    (prop(AMOUNT, "maximum: 10"), prop(AMOUNT, "maximum: 5"), [(B, A, "maximum 10 → 5")]),
    (prop(AMOUNT, "maximum: 10"), prop(AMOUNT), [(C, A, "maximum 10 → (none)")]),
    # formats and patterns
    (prop(METHOD), prop(METHOD, "format: currency"),
     [(B, M, "format (none) → currency")]),
    (prop(METHOD, "pattern: '^a'"), prop(METHOD),
     [(C, M, "pattern ^a → (none)")]),
    # common properties, traits, naming
    ("common_properties: {platform: {type: string}}", "common_properties: {}",
     [(B, "common_properties.platform", "property removed")]),
    ("traits: {plan: {type: string}}", "traits: {plan: {type: string, enum: [free]}}",
     [(B, "traits.plan", "enum added: free")]),
    ("naming: snake_case", "naming: camel_case", [(B, "naming", "snake_case → camel_case")]),
    # enforcement: stricter is breaking
    ("enforcement: {}", "enforcement: {sources: {backend: {unplanned_event: block}}}",
     [(B, "enforcement.sources.backend.unplanned_event", "flag → block")]),
    ("enforcement: {default: {wrong_type: block}}", "enforcement: {default: {wrong_type: allow}}",
     [(C, "enforcement.default.wrong_type", "block → allow")]),
    # what is not a change of the contract
    ("events: {a: {description: x, owner: o}}", "events: {a: {description: y, owner: p}}", []),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_diff(old: str, new: str, expected: list[tuple[str, str, str]]) -> None:
    changes = diff(parse_plan(old), parse_plan(new))
    assert [(c.kind, c.where, c.what) for c in changes] == expected
    assert breaking(changes) == any(kind == BREAKING for kind, _, _ in expected)


def test_a_plan_against_itself_has_no_change() -> None:
    assert diff(load_plan(), load_plan()) == []


def test_a_change_without_a_version_bump_is_noted() -> None:
    old, new = parse_plan("version: 3"), parse_plan("version: 3\nevents: {a: {}}")
    changes = diff(old, new)
    assert version_note(old, new, changes) == (
        "the plan changed but its version did not go up (3 → 3)"
    )
    assert version_note(old, parse_plan("version: 4\nevents: {a: {}}"), changes) == ""
