"""Publisher on google-cloud-pubsub."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.errors import BackendUnavailable
from shared.ports.publisher import OutboundMessage, Publisher
from shared.ports.subscriber import Received, Subscriber


class PubSubPublisher(Publisher):
    def __init__(self, project_id: str, timeout_seconds: float = 30.0) -> None:
        self._project_id = project_id
        self._timeout = timeout_seconds
        self._client: pubsub_v1.PublisherClient | None = None

    @property
    def client(self) -> pubsub_v1.PublisherClient:
        if self._client is None:
            # A request waits for its own messages anyway: do not sit on them for 10 ms.
            batching = pubsub_v1.types.BatchSettings(max_latency=0.002, max_messages=100)
            self._client = pubsub_v1.PublisherClient(batch_settings=batching)
        return self._client

    def topic_path(self, topic: str) -> str:
        return f"projects/{self._project_id}/topics/{topic}"

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str]:
        pending = [
            self.client.publish(self.topic_path(m.topic), m.data, **m.attributes) for m in messages
        ]
        try:
            return [str(f.result(timeout=self._timeout)) for f in pending]
        except (futures.TimeoutError, Exception) as error:
            raise BackendUnavailable(f"Pub/Sub did not accept the messages: {error}") from error


class PubSubSubscriber(Subscriber):
    """Pulls with google-cloud-pubsub (dead-letter subscriptions, for operators)."""

    def __init__(self, project_id: str, timeout_seconds: float = 10.0) -> None:
        self._project_id = project_id
        self._timeout = timeout_seconds
        self._client: pubsub_v1.SubscriberClient | None = None

    @property
    def client(self) -> pubsub_v1.SubscriberClient:
        if self._client is None:
            self._client = pubsub_v1.SubscriberClient()
        return self._client

    def _path(self, subscription: str) -> str:
        return f"projects/{self._project_id}/subscriptions/{subscription}"

    def pull(self, subscription: str, max_messages: int) -> list[Received]:
        try:
            # An empty subscription answers at once (a pull otherwise waits for messages:
            # ten dead-letter subscriptions would take minutes to list).
            answer = self.client.pull(
                request={
                    "subscription": self._path(subscription),
                    "max_messages": max_messages,
                    "return_immediately": True,
                },
                timeout=self._timeout,
            )
        except Exception as error:
            raise BackendUnavailable(f"Pub/Sub pull from {subscription} failed: {error}") from error
        return [
            Received(
                m.ack_id,
                m.message.message_id,
                bytes(m.message.data),
                dict(m.message.attributes),
                m.message.publish_time.isoformat() if m.message.publish_time else "",
            )
            for m in answer.received_messages
        ]

    def acknowledge(self, subscription: str, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self.client.acknowledge(subscription=self._path(subscription), ack_ids=list(ack_ids))

    def release(self, subscription: str, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self.client.modify_ack_deadline(
                subscription=self._path(subscription), ack_ids=list(ack_ids), ack_deadline_seconds=0
            )
