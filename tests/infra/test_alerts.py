"""The alerts the program declares, read from the inputs it would send to Google: one backlog
policy per push subscription, one depth policy per dead-letter subscription, one 5xx policy per
function, all of the deployed topology; the email channel on each and the budget only when the
stack configures them."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.alerts import (
    OLDEST_UNACKED,
    REQUESTS,
    UNDELIVERED,
    AlertConfig,
    Alerts,
    AlertsArgs,
    alert_config,
)
from infra.errors import ConfigError
from shared.topology import EVENTS, TOPOLOGY, Subscription, Topology
from tests.infra.conftest import STACK_CONFIG, Deployed, deploy
from tests.infra.mocks import PROJECT, PROJECT_NUMBER, CloudMocks, Declared, run

POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
BUDGET = "gcp:billing/budget:Budget"
EMAIL = "oncall@example.com"
BILLING_ACCOUNT = "012345-6789AB-CDEF01"
ALERTING = {
    **STACK_CONFIG,
    "cdp:alertEmail": EMAIL,
    "cdp:alertOldestUnackedMinutes": "15",
    "cdp:alertErrorsPerMinute": "3",
    "cdp:billingAccount": BILLING_ACCOUNT,
    "cdp:budgetAmount": "250",
}
WITHOUT = TOPOLOGY.with_destinations(())
TERM = re.compile(r'([\w.]+)="([^"]*)"')


@pytest.fixture(scope="module")
def alerting(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    """The full stack with an alert email, a billing account and thresholds of its own."""
    return deploy(deployed.mocks, ALERTING, tmp_path_factory.mktemp("build"))


def terms(filter_: str) -> dict[str, str]:
    """A filter of ``key="value"`` terms joined by AND, as a dict (nothing else may be in it)."""
    found: dict[str, str] = {}
    for part in filter_.split(" AND "):
        term = TERM.fullmatch(part)
        assert term and term[1] not in found, filter_
        found[term[1]] = term[2]
    return found


def conditions(stack: Deployed) -> dict[str, tuple[Declared, dict[str, Any]]]:
    """Each policy's one threshold condition, by policy resource name."""
    found = {}
    for policy in stack.of_type(POLICY):
        (condition,) = policy["conditions"]
        found[policy.name] = (policy, condition["conditionThreshold"])
    return found


def watched(stack: Deployed, metric: str, label: str) -> dict[str, dict[str, Any]]:
    """The threshold of every policy on ``metric``, by the value of the resource ``label``
    its filter names."""
    found = {}
    for _, threshold in conditions(stack).values():
        filter_ = terms(threshold["filter"])
        if filter_["metric.type"] == metric:
            name = filter_[f"resource.labels.{label}"]
            assert name not in found, f"two policies on {metric} for {name}"
            found[name] = {**threshold, "terms": filter_}
    return found


@pytest.mark.parametrize("topology_of", ["deployed", "without_destinations"])
def test_every_push_subscription_has_a_backlog_policy(
    topology_of: str, request: pytest.FixtureRequest
) -> None:
    stack: Deployed = request.getfixturevalue(topology_of)
    topology = TOPOLOGY if topology_of == "deployed" else WITHOUT
    found = watched(stack, OLDEST_UNACKED, "subscription_id")
    assert sorted(found) == sorted(s.name for s in topology.subscriptions)
    for threshold in found.values():
        assert threshold["terms"]["resource.type"] == "pubsub_subscription"
        assert threshold["comparison"] == "COMPARISON_GT"
        assert threshold["thresholdValue"] == 10 * 60  # seconds: the default 10 minutes


@pytest.mark.parametrize("topology_of", ["deployed", "without_destinations"])
def test_every_dead_letter_subscription_has_a_depth_policy(
    topology_of: str, request: pytest.FixtureRequest
) -> None:
    stack: Deployed = request.getfixturevalue(topology_of)
    topology = TOPOLOGY if topology_of == "deployed" else WITHOUT
    found = watched(stack, UNDELIVERED, "subscription_id")
    assert sorted(found) == sorted(pull for pull, _ in topology.dead_letter_subscriptions())
    for threshold in found.values():
        assert threshold["terms"]["resource.type"] == "pubsub_subscription"
        assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 0)


@pytest.mark.parametrize("topology_of", ["deployed", "without_destinations"])
def test_every_function_has_a_5xx_rate_policy(
    topology_of: str, request: pytest.FixtureRequest
) -> None:
    stack: Deployed = request.getfixturevalue(topology_of)
    topology = TOPOLOGY if topology_of == "deployed" else WITHOUT
    found = watched(stack, REQUESTS, "service_name")
    assert sorted(found) == sorted(f.name for f in topology.functions)
    for threshold in found.values():
        assert threshold["terms"]["resource.type"] == "cloud_run_revision"
        assert threshold["terms"]["metric.labels.response_code_class"] == "5xx"
        (aggregation,) = threshold["aggregations"]
        assert aggregation["perSeriesAligner"] == "ALIGN_RATE"
        assert aggregation["crossSeriesReducer"] == "REDUCE_SUM"  # a service's revisions
        assert threshold["thresholdValue"] == pytest.approx(1 / 60)  # 1 a minute, per second


def test_no_other_policy_is_declared(deployed: Deployed) -> None:
    expected = 2 * len(TOPOLOGY.subscriptions) + len(TOPOLOGY.functions)
    assert len(deployed.of_type(POLICY)) == expected


def test_without_email_or_billing_account_no_channel_and_no_budget(deployed: Deployed) -> None:
    assert not deployed.of_type(CHANNEL)
    assert not deployed.of_type(BUDGET)
    for policy, _ in conditions(deployed).values():
        assert not policy.get("notificationChannels")


def test_the_email_channel_is_on_every_policy(alerting: Deployed) -> None:
    (channel,) = alerting.of_type(CHANNEL)
    assert (channel["type"], channel["labels"]) == ("email", {"email_address": EMAIL})
    channel_id = f"{channel.name}-id"  # what the mocks give a resource without a known id
    policies = alerting.of_type(POLICY)
    assert len(policies) == len(conditions(alerting)) > 0
    for policy in policies:
        assert policy["notificationChannels"] == [channel_id], policy.name


def test_the_stacks_thresholds_are_deployed(alerting: Deployed) -> None:
    backlog = watched(alerting, OLDEST_UNACKED, "subscription_id").values()
    assert {t["thresholdValue"] for t in backlog} == {15 * 60}
    errors = watched(alerting, REQUESTS, "service_name").values()
    assert [t["thresholdValue"] for t in errors] == pytest.approx([3 / 60] * len(errors))


def test_the_budget_is_this_projects_monthly_spend_notified_at_50_90_100(
    alerting: Deployed,
) -> None:
    (budget,) = alerting.of_type(BUDGET)
    (channel,) = alerting.of_type(CHANNEL)
    assert budget["billingAccount"] == BILLING_ACCOUNT
    assert budget["amount"] == {"specifiedAmount": {"units": "250"}}
    assert budget["budgetFilter"] == {
        "projects": [f"projects/{PROJECT_NUMBER}"],
        "calendarPeriod": "MONTH",
    }
    rules = [(r["thresholdPercent"], r["spendBasis"]) for r in budget["thresholdRules"]]
    assert rules == [(0.5, "CURRENT_SPEND"), (0.9, "CURRENT_SPEND"), (1.0, "CURRENT_SPEND")]
    assert budget["allUpdatesRule"] == {"monitoringNotificationChannels": [f"{channel.name}-id"]}


def test_a_billing_account_without_email_budgets_for_the_default_recipients(
    deployed: Deployed, tmp_path: Path
) -> None:
    values = {**STACK_CONFIG, "cdp:billingAccount": BILLING_ACCOUNT}
    stack = deploy(deployed.mocks, values, tmp_path)
    (budget,) = stack.of_type(BUDGET)
    assert budget["amount"] == {"specifiedAmount": {"units": "100"}}
    assert "allUpdatesRule" not in budget  # Google emails the account's billing admins
    assert not stack.of_type(CHANNEL)


def test_a_subscription_added_to_the_topology_is_watched(deployed: Deployed) -> None:
    """Nothing is listed by hand: a new subscription gets both of its policies."""
    added = Subscription("audit-trail", EVENTS, "warehouse-loader")
    topology: Topology = replace(WITHOUT, subscriptions=(*WITHOUT.subscriptions, added))
    mocks: CloudMocks = deployed.mocks
    before = len(mocks.declared)

    def declare() -> pulumi.Output[list[str]]:
        alerts = Alerts("added-check", AlertsArgs(PROJECT, topology, AlertConfig()))
        return pulumi.Output.from_input(list(alerts.policies))

    run(declare)
    stack = Deployed(mocks, {}, Path(), tuple(mocks.declared[before:]))
    assert "audit-trail" in watched(stack, OLDEST_UNACKED, "subscription_id")
    assert "audit-trail-dead-letter" in watched(stack, UNDELIVERED, "subscription_id")


def test_alert_settings_default_when_unset() -> None:
    assert alert_config() == AlertConfig(
        email=None,
        oldest_unacked_minutes=10,
        errors_per_minute=1.0,
        billing_account=None,
        budget_amount=100,
    )


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"email": "oncall"}, "cdp:alertEmail"),
        ({"email": "on call@example.com"}, "cdp:alertEmail"),
        ({"billing_account": "billingAccounts/012345-6789AB-CDEF01"}, "cdp:billingAccount"),
        ({"billing_account": "012345-6789ab-cdef01"}, "cdp:billingAccount"),
        ({"oldest_unacked_minutes": 0}, "cdp:alertOldestUnackedMinutes"),
        ({"errors_per_minute": -1.0}, "cdp:alertErrorsPerMinute"),
        ({"budget_amount": 0}, "cdp:budgetAmount"),
    ],
)
def test_bad_alert_settings_fail_the_preview(values: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        alert_config(**values)


def test_every_policy_tells_the_operator_what_it_is_about(deployed: Deployed) -> None:
    for policy, threshold in conditions(deployed).values():
        filter_ = terms(threshold["filter"])
        resource = (
            filter_.get("resource.labels.subscription_id")
            or filter_["resource.labels.service_name"]
        )
        assert resource in policy["displayName"] and resource in policy["documentation"]["content"]
        assert policy["documentation"]["mimeType"] == "text/markdown"
        assert policy["severity"] in {"WARNING", "ERROR"}
