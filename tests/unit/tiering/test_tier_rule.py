"""The tier rule and the promotion rule, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import Settings
from shared.tiering.rule import (
    Reason,
    Tier,
    TierPolicy,
    normalise_name,
    own_promotion,
    promotions_of,
    tier_of,
)

POLICY = TierPolicy.from_settings(Settings())
PAGE = {"type": "page", "anonymousId": "a1", "name": "/pricing"}

TIERS: list[tuple[str, dict[str, Any], str, bool, Tier]] = [
    # (case, event, source kind, anonymousId promoted?, expected tier)
    ("anonymous page view", PAGE, "web", False, Tier.COLD),
    ("anonymous screen view", {**PAGE, "type": "screen"}, "ios", False, Tier.COLD),
    (
        "anonymous ordinary track",
        {**PAGE, "type": "track", "event": "Viewed Rates"},
        "web",
        False,
        Tier.COLD,
    ),
    ("anonymous group", {**PAGE, "type": "group", "groupId": "g"}, "web", False, Tier.COLD),
    ("promoted anonymous id", PAGE, "web", True, Tier.ENGAGED),
    ("has a userId", {**PAGE, "userId": "u1"}, "web", False, Tier.ENGAGED),
    ("userId only", {"type": "page", "userId": "u1"}, "android", False, Tier.ENGAGED),
    ("numeric userId 0 is an id", {**PAGE, "userId": 0}, "web", False, Tier.ENGAGED),
    ("empty userId is no id", {**PAGE, "userId": ""}, "web", False, Tier.COLD),
    (
        "identify is never cold",
        {"type": "identify", "anonymousId": "a1"},
        "web",
        False,
        Tier.ENGAGED,
    ),
    (
        "alias is never cold",
        {"type": "alias", "anonymousId": "a1", "previousId": "x"},
        "web",
        False,
        Tier.ENGAGED,
    ),
    (
        "engagement event",
        {**PAGE, "type": "track", "event": "account_created"},
        "web",
        False,
        Tier.ENGAGED,
    ),
    (
        "engagement event, title case",
        {**PAGE, "type": "track", "event": "KYC Started"},
        "ios",
        False,
        Tier.ENGAGED,
    ),
    (
        "engagement event, kebab case",
        {**PAGE, "type": "track", "event": "bank-account-linked"},
        "web",
        False,
        Tier.ENGAGED,
    ),
    (
        "engagement name on a page is not an event",
        {**PAGE, "event": "sign_up"},
        "web",
        False,
        Tier.COLD,
    ),
    ("server source", PAGE, "server", False, Tier.ENGAGED),
    ("third-party source is not server", PAGE, "third_party", False, Tier.COLD),
]


@pytest.mark.parametrize(("event", "kind", "promoted", "expected"),
                         [t[1:] for t in TIERS], ids=[t[0] for t in TIERS])  # fmt: skip
def test_tier_rule(event: dict[str, Any], kind: str, promoted: bool, expected: Tier) -> None:
    assert tier_of(event, kind, promoted, POLICY) is expected


def test_tiering_off_makes_everything_engaged() -> None:
    policy = TierPolicy.from_settings(Settings(tier_enabled=False))
    assert tier_of(PAGE, "web", False, policy) is Tier.ENGAGED


def test_the_engagement_list_is_configurable() -> None:
    policy = TierPolicy.from_settings(Settings(tier_engagement_events=["Viewed Rates"]))
    assert tier_of({**PAGE, "type": "track", "event": "viewed_rates"}, "web", False, policy) is (
        Tier.ENGAGED
    )
    assert tier_of({**PAGE, "type": "track", "event": "sign_up"}, "web", False, policy) is (
        Tier.COLD
    )


PROMOTIONS: list[tuple[str, dict[str, Any], list[tuple[str, Reason]]]] = [
    ("cold page view", PAGE, []),
    (
        "identify with anonymousId",
        {"type": "identify", "anonymousId": "a1", "userId": "u"},
        [("a1", Reason.IDENTIFIED)],
    ),
    (
        "anonymous identify (traits only)",
        {"type": "identify", "anonymousId": "a1"},
        [("a1", Reason.IDENTIFIED)],
    ),
    ("identify without anonymousId", {"type": "identify", "userId": "u"}, []),
    (
        "track linking both ids",
        {"type": "track", "event": "x", "anonymousId": "a1", "userId": "u"},
        [("a1", Reason.LINKED)],
    ),
    (
        "engagement event",
        {"type": "track", "event": "Sign Up", "anonymousId": "a1"},
        [("a1", Reason.ENGAGEMENT_EVENT)],
    ),
    (
        "alias of an anonymous id",
        {"type": "alias", "userId": "u", "previousId": "a0"},
        [("a0", Reason.ALIASED)],
    ),
    (
        "alias from the SDK (anonymousId too)",
        {"type": "alias", "userId": "u", "previousId": "a0", "anonymousId": "a1"},
        [("a1", Reason.LINKED), ("a0", Reason.ALIASED)],
    ),
    ("alias of a user id to itself", {"type": "alias", "userId": "u", "previousId": "u"}, []),
    ("server event with only userId", {"type": "track", "event": "x", "userId": "u"}, []),
]


@pytest.mark.parametrize(("event", "expected"), [t[1:] for t in PROMOTIONS],
                         ids=[t[0] for t in PROMOTIONS])  # fmt: skip
def test_promotion_rule(event: dict[str, Any], expected: list[tuple[str, Reason]]) -> None:
    assert promotions_of(event, POLICY) == expected


OWN_PROMOTIONS: list[tuple[str, dict[str, Any], Reason | None]] = [
    ("page view", PAGE, None),
    ("identify", {"type": "identify", "anonymousId": "a1"}, Reason.IDENTIFIED),
    ("identify with userId", {"type": "identify", "anonymousId": "a1", "userId": "u"},
     Reason.IDENTIFIED),
    ("track with userId", {"type": "track", "event": "x", "anonymousId": "a1", "userId": "u"},
     Reason.LINKED),
    ("numeric userId", {"type": "page", "anonymousId": "a1", "userId": 0}, Reason.LINKED),
    ("empty userId", {"type": "page", "anonymousId": "a1", "userId": ""}, None),
    ("null userId", {"type": "page", "anonymousId": "a1", "userId": None}, None),
    ("engagement event", {"type": "track", "event": "Sign Up", "anonymousId": "a1"},
     Reason.ENGAGEMENT_EVENT),
    ("ordinary track", {"type": "track", "event": "x", "anonymousId": "a1"}, None),
    ("alias", {"type": "alias", "previousId": "a0", "anonymousId": "a1", "userId": "u"},
     Reason.LINKED),
]  # fmt: skip


@pytest.mark.parametrize(("event", "expected"), [t[1:] for t in OWN_PROMOTIONS],
                         ids=[t[0] for t in OWN_PROMOTIONS])  # fmt: skip
def test_own_promotion(event: dict[str, Any], expected: Reason | None) -> None:
    assert own_promotion(event, POLICY) == expected
    own = [reason for anon, reason in promotions_of(event, POLICY) if anon == "a1"]
    assert own == ([expected] if expected else [])  # the reason promotions_of gives it


@pytest.mark.parametrize(("name", "normal"), [("Account Created", "account_created"),
    ("kyc-started", "kyc_started"), ("  Sign.Up ", "sign_up"), ("sign_up", "sign_up")])  # fmt: skip
def test_names_are_normalised(name: str, normal: str) -> None:
    assert normalise_name(name) == normal


def test_tier_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TIER_ENGAGEMENT_EVENTS", '["Loan Applied"]')
    monkeypatch.setenv("CDP_TIER_ENGAGED_SOURCE_KINDS", '["server", "third_party"]')
    monkeypatch.setenv("CDP_GA4_API_SECRET", "top-secret")
    settings = Settings()
    policy = TierPolicy.from_settings(settings)
    assert policy.engagement_events == {"loan_applied"}
    assert tier_of(PAGE, "third_party", False, policy) is Tier.ENGAGED
    assert settings.ga4_api_secret == "top-secret" and "top-secret" not in repr(settings)


def test_every_schedule_names_a_known_job() -> None:
    from shared.governance.privacy.regulations import RESUME_JOB
    from shared.jobs import JOBS
    from shared.topology import JOBS as JOBS_FUNCTION
    from shared.topology import PRIVACY, TOPOLOGY

    known = {JOBS_FUNCTION: set(JOBS), PRIVACY: {RESUME_JOB}}
    assert all(s.name in known[s.function] for s in TOPOLOGY.schedules)
    assert {"tier-promotion-sweep", "quality-checks"} <= set(JOBS)
