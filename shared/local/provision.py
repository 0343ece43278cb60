"""Create the topology's topics and subscriptions, and the warehouse's tables, on emulators.

The cloud gets the same from Pulumi; both read ``shared.topology`` and ``shared.warehouse.tables``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.protobuf import duration_pb2

from shared.adapters.bigquery import BigQueryWarehouse
from shared.settings import Settings
from shared.topology import Subscription, Topology
from shared.warehouse.tables import datasets


def retry_policy(sub: Subscription) -> dict[str, duration_pb2.Duration]:
    """The subscription's RetryPolicy, as the Pub/Sub client takes it."""
    return {
        "minimum_backoff": duration_pb2.Duration(seconds=sub.retry.minimum_backoff_seconds),
        "maximum_backoff": duration_pb2.Duration(seconds=sub.retry.maximum_backoff_seconds),
    }


def subscription_request(
    project: str, sub: Subscription, push_endpoint: str | None
) -> dict[str, object]:
    """The CreateSubscription request for ``sub``; ``push_endpoint`` None means pull."""
    request: dict[str, object] = {
        "name": f"projects/{project}/subscriptions/{sub.name}",
        "topic": f"projects/{project}/topics/{sub.topic}",
        "ack_deadline_seconds": sub.ack_deadline_seconds,
        "dead_letter_policy": {
            "dead_letter_topic": f"projects/{project}/topics/{sub.dead_letter_topic}",
            "max_delivery_attempts": sub.max_delivery_attempts,
        },
        "retry_policy": retry_policy(sub),
    }
    if sub.filter:
        request["filter"] = sub.filter
    if push_endpoint:
        request["push_config"] = {"push_endpoint": push_endpoint}
    return request


def create_messaging(project: str, topology: Topology, function_urls: Mapping[str, str]) -> None:
    """Topics, push subscriptions to each consuming function, and dead-letter pull
    subscriptions. Existing ones are left as they are."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in topology.all_topic_names():
            with contextlib.suppress(gexc.AlreadyExists):
                publisher.create_topic(name=publisher.topic_path(project, topic))
        for sub in topology.subscriptions:
            endpoint = function_urls[sub.function]
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(request=subscription_request(project, sub, endpoint))
        for name, topic in topology.dead_letter_subscriptions():
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(
                    name=subscriber.subscription_path(project, name),
                    topic=publisher.topic_path(project, topic),
                )
    finally:
        subscriber.close()


def create_warehouse(settings: Settings) -> None:
    BigQueryWarehouse(
        settings.project_id, settings.bigquery_location, settings.bigquery_endpoint
    ).ensure(datasets(settings))
