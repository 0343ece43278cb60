"""Pub/Sub, from ``shared.topology``: the topics, one push subscription per consumer, and for each
subscription a dead-letter topic with a pull subscription an operator reads and replays from.

Subscriptions are plain push subscriptions to the functions' URLs (not Eventarc triggers), as in
the local stack: the same topology runs in both places. Pushes carry an OIDC token of a service
account that may invoke only the functions it pushes to. Dead-lettering is done by the Pub/Sub
service agent, which needs to publish to the dead-letter topic and to subscribe to the source
subscription (to acknowledge what it forwarded); it gets exactly that, per resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.function import Endpoint
from shared.topology import Subscription, Topology

PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
NEVER = ""  # an expiration policy ttl of "" keeps an idle subscription forever
DEAD_LETTER_RETENTION = "604800s"  # 7 days for an operator to look


def seconds(value: int) -> str:
    return f"{value}s"


@dataclass(frozen=True)
class TopicsArgs:
    project: str
    topology: Topology
    pubsub_agent: pulumi.Input[str]  # member string of the project's Pub/Sub service agent


class Topics(pulumi.ComponentResource):
    """Every topic, dead-letter topics included, and the dead-letter pull subscriptions."""

    def __init__(
        self, name: str, args: TopicsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Topics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topics: dict[str, gcp.pubsub.Topic] = {
            # Retention is set on the subscriptions (Topic.retention_hours is how long an
            # unacknowledged message waits): topic-level retention would bill for acked ones.
            t.name: gcp.pubsub.Topic(t.name, project=args.project, name=t.name, opts=child)
            for t in args.topology.topics
        }
        self.dead_letter_subscriptions: dict[str, gcp.pubsub.Subscription] = {}
        for pull_name, topic_name in args.topology.dead_letter_subscriptions():
            topic = gcp.pubsub.Topic(topic_name, project=args.project, name=topic_name, opts=child)
            self.topics[topic_name] = topic
            gcp.pubsub.TopicIAMMember(
                f"{topic_name}-agent-publishes",
                project=args.project,
                topic=topic.name,
                role=PUBLISHER,
                member=args.pubsub_agent,
                opts=pulumi.ResourceOptions(parent=topic),
            )
            self.dead_letter_subscriptions[pull_name] = gcp.pubsub.Subscription(
                pull_name,
                project=args.project,
                name=pull_name,
                topic=topic.name,
                ack_deadline_seconds=60,
                message_retention_duration=DEAD_LETTER_RETENTION,
                retain_acked_messages=True,  # replay after a fix needs what was acked
                expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=NEVER),
                opts=pulumi.ResourceOptions(parent=topic),
            )
        self.register_outputs({"topics": [t.name for t in self.topics.values()]})


@dataclass(frozen=True)
class PushSubscriptionsArgs:
    project: str
    topology: Topology
    topics: Mapping[str, gcp.pubsub.Topic]
    endpoints: Mapping[str, Endpoint]  # function name -> where it answers
    pubsub_agent: pulumi.Input[str]


class PushSubscriptions(pulumi.ComponentResource):
    """The push subscriptions and the identity they push with."""

    def __init__(
        self, name: str, args: PushSubscriptionsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:PushSubscriptions", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        self.pusher = gcp.serviceaccount.Account(
            "pubsub-pusher",
            project=args.project,
            account_id="cdp-pubsub-pusher",
            display_name="Pub/Sub pushes to the CDP functions",
            opts=child,
        )
        # The agent mints the OIDC tokens: allowed on this one account, not project-wide.
        token_creator = gcp.serviceaccount.IAMMember(
            "pubsub-agent-mints-pusher-tokens",
            service_account_id=self.pusher.name,
            role=TOKEN_CREATOR,
            member=args.pubsub_agent,
            opts=child,
        )
        invokers = {
            function: args.endpoints[function].grant_invoker(
                f"pubsub-invokes-{function}", self.pusher.member, self
            )
            for function in sorted({s.function for s in args.topology.subscriptions})
        }
        self.subscriptions = {
            sub.name: self._subscription(sub, [token_creator, invokers[sub.function]])
            for sub in args.topology.subscriptions
        }
        self.register_outputs({"subscriptions": [s.name for s in self.subscriptions.values()]})

    def _subscription(
        self, sub: Subscription, grants: list[pulumi.Resource]
    ) -> gcp.pubsub.Subscription:
        args = self._args
        retention_hours = {t.name: t.retention_hours for t in args.topology.topics}
        endpoint = args.endpoints[sub.function]
        subscription = gcp.pubsub.Subscription(
            sub.name,
            project=args.project,
            name=sub.name,
            topic=args.topics[sub.topic].id,
            ack_deadline_seconds=sub.ack_deadline_seconds,
            message_retention_duration=seconds(retention_hours[sub.topic] * 3600),
            filter=sub.filter or None,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=endpoint.uri,
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=self.pusher.email,
                    audience=endpoint.uri,
                ),
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=args.topics[sub.dead_letter_topic].id,
                max_delivery_attempts=sub.max_delivery_attempts,
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=seconds(sub.retry.minimum_backoff_seconds),
                maximum_backoff=seconds(sub.retry.maximum_backoff_seconds),
            ),
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=NEVER),
            # Pushing before the pusher may invoke would burn delivery attempts on 403s.
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        gcp.pubsub.SubscriptionIAMMember(
            f"{sub.name}-agent-subscribes",
            project=args.project,
            subscription=subscription.name,
            role=SUBSCRIBER,
            member=args.pubsub_agent,
            opts=pulumi.ResourceOptions(parent=subscription),
        )
        return subscription
