"""Every finding kind against the shipped fintech plan, and the mode each source gets."""

from __future__ import annotations

from typing import Any

import pytest

from shared.governance.checks import Finding, findings
from shared.governance.plan import KINDS, load_plan, parse_plan

PAID = {"platform": "server", "amount": 25.0, "type": "deposit", "method": "ach"}
WEB = {"platform": "web", "session_id": "s-1"}


def track(event: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "properties": properties, "messageId": "m1"}


def identify(**traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "u1", "traits": traits}


CASES = [
    # (event, source kind, expected findings as (kind, property, detail))
    (track("transaction_initiated", **PAID), "server", []),
    (track("transaction_initiated", **PAID, currency="IDR", product="savings"), "server", []),
    (track("kyc_started", **WEB), "web", []),
    (track("session_started", platform="ios", session_id="s"), "ios", []),
    (identify(email="ada@example.com", plan="pro", created_at="2026-03-01T09:00:00Z"), "web", []),
    ({"type": "page", "name": "Home", "properties": {"anything": 1}}, "web", []),
    ({"type": "alias", "previousId": "a", "userId": "u"}, "web", []),
    # unplanned_event
    (track("transfer_done", **PAID), "server", [("unplanned_event", "", "not in the plan")]),
    (
        track("Transfer Done"),
        "web",
        [("unplanned_event", "", "not in the plan, and not snake_case")],
    ),
    # deprecated_event: the note says what to send instead
    (
        track("transaction_succeeded", platform="server", amount=1.0),
        "server",
        [("deprecated_event", "", "Send transaction_completed, with type and method.")],
    ),
    # missing_property: null counts as absent; session_id only of the sources people hold
    (
        track("transaction_initiated", platform="server", amount=5, type="card"),
        "server",
        [("missing_property", "method", "required")],
    ),
    (
        track("transaction_initiated", **{**PAID, "method": None}),
        "server",
        [("missing_property", "method", "required")],
    ),
    (track("kyc_started", platform="web"), "web", [("missing_property", "session_id", "required")]),
    (
        track("kyc_started", platform="android"),
        "android",
        [("missing_property", "session_id", "required")],
    ),
    (track("kyc_approved", platform="server"), "server", []),
    (track("kyc_approved"), "server", [("missing_property", "platform", "required")]),
    (track("feature_viewed", **WEB), "web", [("missing_property", "feature_name", "required")]),
    (
        {"type": "track", "event": "Audience Entered", "properties": {}},
        "server",
        [("missing_property", "audience_key", "required")],
    ),
    # unplanned_property
    (
        track("kyc_document_submitted", **WEB, document="passport"),
        "web",
        [("unplanned_property", "document", "")],
    ),
    (
        identify(email="a@b.co", favourite_colour="teal"),
        "ios",
        [("unplanned_property", "favourite_colour", "")],
    ),
    # wrong_type: type, enum, range, format, pattern (the detail names the constraint only)
    (
        track("transaction_initiated", **{**PAID, "amount": "25"}),
        "server",
        [("wrong_type", "amount", "expected number, got string")],
    ),
    (
        track("transaction_initiated", **{**PAID, "amount": True}),
        "server",
        [("wrong_type", "amount", "expected number, got boolean")],
    ),
    (
        track("transaction_initiated", **{**PAID, "method": "cheque"}),
        "server",
        [("wrong_type", "method", "not one of ach, wire, instant, pos, online, atm")],
    ),
    (
        track("transaction_initiated", **{**PAID, "amount": -3}),
        "server",
        [("wrong_type", "amount", "below the minimum 0")],
    ),
    (
        track("transaction_initiated", **PAID, currency="usd"),
        "server",
        [("wrong_type", "currency", "not an ISO 4217 currency code")],
    ),
    (
        track("statement_downloaded", **WEB, period="2026-13"),
        "web",
        [("wrong_type", "period", "does not match ^[0-9]{4}-(0[1-9]|1[0-2])$")],
    ),
    (
        track("subscription_paused", **WEB, days=2.5),
        "web",
        [("wrong_type", "days", "expected integer, got number")],
    ),
    (
        track("subscription_paused", **WEB, days=400),
        "web",
        [("wrong_type", "days", "above the maximum 365")],
    ),
    (track("subscription_paused", **WEB, days=30.0), "web", []),  # JSON's 30.0 is an integer
    (
        track("kyc_started", platform="tv", session_id="s"),
        "web",
        [("wrong_type", "platform", "not one of ios, android, web, server")],
    ),
    (identify(email="not an email"), "web", [("wrong_type", "email", "not an email address")]),
    (identify(email=" Ada@Example.com "), "web", []),  # as typed in a form: identity trims it
    (
        identify(created_at="yesterday"),
        "web",
        [("wrong_type", "created_at", "expected timestamp, got string")],
    ),
    (
        identify(plan={"tier": "pro"}),
        "web",
        [("wrong_type", "plan", "expected string, got object")],
    ),
    # several at once, in the rules' order
    (
        track("transaction_succeeded", amount="1", note="x"),
        "server",
        [
            ("deprecated_event", "", "Send transaction_completed, with type and method."),
            ("missing_property", "platform", "required"),
            ("unplanned_property", "note", ""),
            ("wrong_type", "amount", "expected number, got string"),
        ],
    ),
]


@pytest.mark.parametrize(("event", "source_kind", "expected"), CASES)
def test_findings_against_the_shipped_plan(
    event: dict[str, Any], source_kind: str, expected: list[tuple[str, str, str]]
) -> None:
    name = event.get("event") if event["type"] == "track" else event["type"]
    want = [Finding(kind, str(name), prop, detail) for kind, prop, detail in expected]
    assert findings(load_plan(), event, source_kind) == want


def test_every_finding_kind_has_a_case() -> None:
    assert {kind for _, _, expected in CASES for kind, _, _ in expected} == set(KINDS)


def test_a_finding_never_quotes_the_value() -> None:
    card = "4111 1111 1111 1111"
    event = track("transaction_initiated", **{**PAID, "amount": card, "method": card})
    assert all(card not in f.detail for f in findings(load_plan(), event, "server"))


def test_properties_that_are_not_an_object_count_as_none() -> None:
    event = {"type": "track", "event": "kyc_approved", "properties": ["x"]}
    assert [f.kind for f in findings(load_plan(), event, "server")] == ["missing_property"]


ENFORCED = """
enforcement:
  default: {unplanned_property: allow}
  sources:
    backend: {unplanned_event: block, wrong_type: block}
    web: {unplanned_property: flag}
"""


@pytest.mark.parametrize(
    ("source_id", "expected"),
    [
        (
            "backend",
            {"unplanned_event": "block", "wrong_type": "block", "unplanned_property": "allow"},
        ),
        ("web", {"unplanned_event": "flag", "wrong_type": "flag", "unplanned_property": "flag"}),
        ("ios", {"unplanned_event": "flag", "wrong_type": "flag", "unplanned_property": "allow"}),
    ],
)
def test_a_mode_resolves_per_source(source_id: str, expected: dict[str, str]) -> None:
    modes = parse_plan(ENFORCED).modes_for(source_id)
    assert set(modes) == set(KINDS) and modes["missing_property"] == "flag"
    assert {k: modes[k] for k in expected} == expected


def test_the_shipped_plan_flags_every_kind_on_every_source() -> None:
    plan = load_plan()
    for source_id in ("web", "ios", "android", "backend", "customerio", "unknown"):
        assert dict(plan.modes_for(source_id)) == dict.fromkeys(KINDS, "flag")


@pytest.mark.parametrize(
    "text",
    [
        "enforcement: {default: {unplaned_event: block}}",
        "enforcement: {sources: {web: {wrong_type: blok}}}",
        "events: {a: {status: retired}}",
        "events: {a: {properties: {b: {type: string, format: iban}}}}",
        "events: {a: {properties: {b: {type: string, pattern: '('}}}}",
        "common_properties: {session_id: {type: string, required: true, required_for: [tv]}}",
        "events: {a: {properties: {b: {type: string, requried: true}}}}",
        "enforcment: {}",
        "naming: camel_case\nevents: {account_created: {}}",
    ],
)
def test_a_plan_the_checks_could_not_apply_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_plan(text)


def test_platform_events_keep_their_own_names_and_skip_the_common_properties() -> None:
    plan = parse_plan(
        "common_properties: {platform: {type: string, required: true}}\n"
        "platform_events: {'Email Opened': {properties: {email_id: {type: string}}}}"
    )
    event = {"type": "track", "event": "Email Opened", "properties": {"email_id": "e1"}}
    assert findings(plan, event, "third_party") == []
    assert list(plan.typed_properties("Email Opened")) == ["email_id"]
