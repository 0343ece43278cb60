"""``cdp plan lint``'s rules, one case each, and the shipped plan linting clean."""

from __future__ import annotations

import pytest

from shared.governance.lint import ERROR, WARNING, Issue, failed, lint_text
from shared.governance.plan import PLAN_PATH

OWNED = "owner: growth, description: d"


def test_the_shipped_plan_lints_clean() -> None:
    assert lint_text(PLAN_PATH.read_text()) == []


CASES = [
    # refused when loading: reported where they are
    (
        "events: {TransactionDone: {}}",
        [(ERROR, "", "names must be snake_case: events: TransactionDone")],
    ),
    (
        "events: {a: {properties: {b: {type: money}}}}",
        [
            (
                ERROR,
                "events.a.properties.b.type",
                "unknown type 'money'; one of string, number, integer, boolean, timestamp",
            )
        ],
    ),
    (
        "enforcement: {sources: {web: {unplaned_event: block}}}",
        [
            (
                ERROR,
                "enforcement",
                "web: unknown finding kind(s) ['unplaned_event']; one of unplanned_event, "
                "unplanned_property, missing_property, wrong_type, deprecated_event",
            )
        ],
    ),
    (
        "enforcement: {default: {wrong_type: blok}}",
        [(ERROR, "enforcement.default.wrong_type", "Input should be 'allow', 'flag' or 'block'")],
    ),
    ("[1, 2]", [(ERROR, "", "a tracking plan is a YAML mapping")]),
    ("events: {a: [", [(ERROR, "", "not YAML")]),
    # parse, but contradict themselves
    (
        f"events: {{a: {{{OWNED}, properties: {{b: {{type: string, required: true, "
        f"default: x}}}}}}}}",
        [(ERROR, "events.a.properties.b", "required, yet has a default: which is it?")],
    ),
    (
        "common_properties: {s: {type: string, required_for: [web]}}",
        [(ERROR, "common_properties.s", "required_for without required: true")],
    ),
    (
        "traits: {n: {type: number, enum: [1, two]}}",
        [(ERROR, "traits.n", "enum value(s) 'two' are not of type number")],
    ),
    (
        "traits: {n: {type: string, enum: []}}",
        [(ERROR, "traits.n", "an empty enum: no value could pass")],
    ),
    (
        "traits: {n: {type: string, enum: [a, a]}}",
        [(WARNING, "traits.n", "an enum value is listed twice")],
    ),
    (
        "traits: {n: {type: string, minimum: 1}}",
        [(ERROR, "traits.n", "minimum/maximum on a string: only numbers have one")],
    ),
    (
        "traits: {n: {type: integer, minimum: 5, maximum: 1}}",
        [(ERROR, "traits.n", "minimum is above maximum: no value could pass")],
    ),
    (
        "traits: {n: {type: number, format: currency}}",
        [(ERROR, "traits.n", "format on a number: only strings have one")],
    ),
    (
        "traits: {n: {type: string, format: currency, default: usd}}",
        [(ERROR, "traits.n", "the default would be flagged: not an ISO 4217 currency code")],
    ),
    (
        "traits: {n: {type: integer, default: x}}",
        [(ERROR, "traits.n", "the default is not of type integer")],
    ),
    (
        f"events: {{opened: {{{OWNED}}}}}\nplatform_events: {{opened: {{{OWNED}}}}}",
        [(ERROR, "platform_events.opened", "also a planned event: declare it once")],
    ),
    (
        f"events: {{a: {{{OWNED}, status: deprecated}}}}",
        [(ERROR, "events.a", "deprecated without a replacement note")],
    ),
    (
        f"events: {{a: {{{OWNED}, replacement: b}}}}",
        [(WARNING, "events.a", "a replacement note, but not deprecated")],
    ),
    (
        f"common_properties: {{p: {{type: string}}}}\n"
        f"events: {{a: {{{OWNED}, properties: {{p: {{type: number}}}}}}}}",
        [(ERROR, "events.a.properties.p", "retypes the common property p (string → number)")],
    ),
    ("events: {a: {description: d}}", [(WARNING, "events.a", "no owner")]),
    ("platform_events: {A B: {owner: o}}", [(WARNING, "platform_events.A B", "no description")]),
    (
        "pii: {card: shred}",
        [(ERROR, "pii.card.policy", "Input should be 'redact', 'hash' or 'block'")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_lint(text: str, expected: list[tuple[str, str, str]]) -> None:
    issues = lint_text(text)
    got = [(i.severity, i.where, i.message) for i in issues]
    if expected == [(ERROR, "", "not YAML")]:
        got = [(s, w, m.split(":")[0]) for s, w, m in got]
    assert got == expected
    assert failed(issues) == any(severity == ERROR for severity, _, _ in expected)


def test_warnings_alone_do_not_fail() -> None:
    assert not failed([Issue(WARNING, "events.a", "no owner")])
