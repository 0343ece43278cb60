"""What tells an operator something is wrong, derived from the deployed topology: one policy per
push subscription (its oldest unacknowledged message is too old), per dead-letter subscription
(anything waits there) and per function (it answers 5xx too often); a monthly budget on the
billing account when one is configured; and an email channel, when one is configured, on all
of them.

Keys (namespace ``cdp``), read by ``infra/config.py`` and checked here before anything is
declared:

- ``alertEmail``: where alerts and budget notices go (an email notification channel). Without
  it the policies still open incidents in Cloud Monitoring, and the budget emails the billing
  account's administrators, as Google does by default.
- ``alertOldestUnackedMinutes`` (default 10): a push subscription's backlog age that alerts.
- ``alertErrorsPerMinute`` (default 1): a function's 5xx answers per minute, averaged over five
  minutes, that alert. Pub/Sub-fed functions answer 5xx to have a message redelivered, so a
  few are the retry path working; a steady rate is not.
- ``billingAccount`` (``XXXXXX-XXXXXX-XXXXXX``): the account the budget is set on; no budget
  without it. ``budgetAmount`` (default 100, a whole number in the account's own currency):
  the monthly amount, notified at 50, 90 and 100 % of actual spend.

Gen2 functions run as Cloud Run services of the same name, so their errors are Cloud Run's
``request_count`` with ``response_code_class="5xx"`` on ``cloud_run_revision``. The policies
need ``monitoring.googleapis.com`` and the budget ``billingbudgets.googleapis.com``, which
``infra/components/apis.py`` must switch on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.errors import ConfigError
from shared.topology import Topology

OLDEST_UNACKED = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
REQUESTS = "run.googleapis.com/request_count"
DEFAULT_OLDEST_UNACKED_MINUTES = 10
DEFAULT_ERRORS_PER_MINUTE = 1.0
DEFAULT_BUDGET_AMOUNT = 100
BUDGET_THRESHOLDS = (0.5, 0.9, 1.0)
ACTUAL = "CURRENT_SPEND"  # notify on what was spent, not on Google's forecast
AUTO_CLOSE = "1800s"  # an incident whose metric stops reporting (an idle function) closes
BILLING_ACCOUNT = re.compile(r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AlertConfig:
    email: str | None = None
    oldest_unacked_minutes: int = DEFAULT_OLDEST_UNACKED_MINUTES
    errors_per_minute: float = DEFAULT_ERRORS_PER_MINUTE
    billing_account: str | None = None
    budget_amount: int = DEFAULT_BUDGET_AMOUNT


def alert_config(
    email: str | None = None,
    oldest_unacked_minutes: int | None = None,
    errors_per_minute: float | None = None,
    billing_account: str | None = None,
    budget_amount: int | None = None,
) -> AlertConfig:
    """The alerts' settings from the stack's values (``None``: not set), or a ConfigError."""
    if email is not None and not EMAIL.fullmatch(email):
        raise ConfigError(f"cdp:alertEmail must be an email address, not {email!r}")
    if billing_account is not None and not BILLING_ACCOUNT.fullmatch(billing_account):
        raise ConfigError(
            f"cdp:billingAccount must be a billing account id like 012345-6789AB-CDEF01"
            f" (gcloud billing accounts list), not {billing_account!r}"
        )
    numbers = {
        "cdp:alertOldestUnackedMinutes": oldest_unacked_minutes,
        "cdp:alertErrorsPerMinute": errors_per_minute,
        "cdp:budgetAmount": budget_amount,
    }
    for key, value in numbers.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{key} must be above zero, not {value}")
    return AlertConfig(
        email=email,
        oldest_unacked_minutes=oldest_unacked_minutes or DEFAULT_OLDEST_UNACKED_MINUTES,
        errors_per_minute=errors_per_minute or DEFAULT_ERRORS_PER_MINUTE,
        billing_account=billing_account,
        budget_amount=budget_amount or DEFAULT_BUDGET_AMOUNT,
    )


def read_alerts(cdp: pulumi.Config) -> AlertConfig:
    return alert_config(
        email=cdp.get("alertEmail"),
        oldest_unacked_minutes=cdp.get_int("alertOldestUnackedMinutes"),
        errors_per_minute=cdp.get_float("alertErrorsPerMinute"),
        billing_account=cdp.get("billingAccount"),
        budget_amount=cdp.get_int("budgetAmount"),
    )


@dataclass(frozen=True)
class Threshold:
    """One alert policy: a metric of one resource above a value (aligned per ``aligner`` over
    ``period_seconds``) for ``duration_seconds``."""

    name: str  # the Pulumi resource name
    title: str
    filter: str
    value: float
    aligner: str
    period_seconds: int
    duration_seconds: int
    severity: str
    runbook: str
    reducer: str | None = None  # across series: a function's revisions are added up


def subscription_filter(metric: str, subscription: str) -> str:
    return (
        f'metric.type="{metric}" AND resource.type="pubsub_subscription"'
        f' AND resource.labels.subscription_id="{subscription}"'
    )


def errors_filter(function: str) -> str:
    return (
        f'metric.type="{REQUESTS}" AND resource.type="cloud_run_revision"'
        f' AND resource.labels.service_name="{function}"'
        ' AND metric.labels.response_code_class="5xx"'
    )


def thresholds(topology: Topology, config: AlertConfig) -> list[Threshold]:
    """Every policy the topology needs: none is listed by hand, so a subscription or function
    added to the topology is watched the day it is deployed."""
    minutes = config.oldest_unacked_minutes
    backlog = [
        Threshold(
            name=f"{s.name}-oldest-unacked",
            title=f"Pub/Sub {s.name}: a message unacknowledged for over {minutes} min",
            filter=subscription_filter(OLDEST_UNACKED, s.name),
            value=minutes * 60,  # the metric is in seconds
            aligner="ALIGN_MAX",
            period_seconds=60,
            duration_seconds=60,  # one late sample is not an incident
            severity="WARNING",
            runbook=f"{s.function} is not keeping up with {s.topic}, or keeps failing on"
            f" some messages: read its logs; after {s.max_delivery_attempts} attempts a"
            f" message goes to {s.dead_letter_topic}.",
        )
        for s in topology.subscriptions
    ]
    dead = [
        Threshold(
            name=f"{pull}-depth",
            title=f"Pub/Sub {pull}: dead-lettered messages wait",
            filter=subscription_filter(UNDELIVERED, pull),
            value=0,
            aligner="ALIGN_MAX",
            period_seconds=60,
            duration_seconds=0,
            severity="ERROR",
            runbook=f"Messages were given up on and wait in {pull} (seven days): `cdp dlq list"
            f" {pull}` shows them; once the cause is fixed, `cdp dlq replay {pull}` publishes"
            " them again and acknowledges them, which closes this incident.",
        )
        for pull, _ in topology.dead_letter_subscriptions()
    ]
    per_minute = config.errors_per_minute
    errors = [
        Threshold(
            name=f"{f.name}-5xx",
            title=f"Function {f.name}: over {per_minute:g} 5xx answers a minute",
            filter=errors_filter(f.name),
            value=per_minute / 60,  # ALIGN_RATE is per second
            aligner="ALIGN_RATE",
            period_seconds=300,
            duration_seconds=0,
            severity="ERROR",
            runbook=f"{f.name} answers 5xx: read its logs (Cloud Run service {f.name}).",
            reducer="REDUCE_SUM",
        )
        for f in topology.functions
    ]
    return [*backlog, *dead, *errors]


def policy_condition(threshold: Threshold) -> gcp.monitoring.AlertPolicyConditionArgs:
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=threshold.title,
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=threshold.filter,
            comparison="COMPARISON_GT",
            threshold_value=threshold.value,
            duration=f"{threshold.duration_seconds}s",
            aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                    alignment_period=f"{threshold.period_seconds}s",
                    per_series_aligner=threshold.aligner,
                    cross_series_reducer=threshold.reducer,
                )
            ],
            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
        ),
    )


@dataclass(frozen=True)
class AlertsArgs:
    project: str
    topology: Topology  # the deployed one: enabled destinations only
    config: AlertConfig


class Alerts(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        self.channel = (
            gcp.monitoring.NotificationChannel(
                "alert-email",
                project=args.project,
                type="email",
                display_name=f"CDP alerts ({config.email})",
                labels={"email_address": config.email},
                opts=child,
            )
            if config.email
            else None
        )
        channels = [self.channel.id] if self.channel else []
        self.policies = {
            t.name: gcp.monitoring.AlertPolicy(
                t.name,
                project=args.project,
                display_name=t.title,
                combiner="OR",
                conditions=[policy_condition(t)],
                notification_channels=channels,
                severity=t.severity,
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close=AUTO_CLOSE),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=t.runbook, mime_type="text/markdown"
                ),
                opts=child,
            )
            for t in thresholds(args.topology, config)
        }
        self.budget = self._budget(args, channels) if config.billing_account else None
        self.register_outputs({"policies": list(self.policies)})

    def _budget(self, args: AlertsArgs, channels: list[pulumi.Output[str]]) -> gcp.billing.Budget:
        """This project's spend on the account, monthly. The deployer needs a billing role on
        the account (Billing Account Costs Manager), and the Budget API a quota project: with
        user credentials, ``gcp:billingProject`` set and ``gcp:userProjectOverride`` true."""
        number = gcp.organizations.get_project_output(project_id=args.project).number
        return gcp.billing.Budget(
            "budget",
            billing_account=args.config.billing_account,
            display_name=f"CDP {args.project}",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[number.apply(lambda n: f"projects/{n}")],
                calendar_period="MONTH",
            ),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    units=str(args.config.budget_amount)
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(
                    threshold_percent=p, spend_basis="CURRENT_SPEND"
                )
                for p in BUDGET_THRESHOLDS
            ],
            all_updates_rule=(
                gcp.billing.BudgetAllUpdatesRuleArgs(monitoring_notification_channels=channels)
                if channels
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
