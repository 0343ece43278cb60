"""Publisher on google-cloud-pubsub."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.errors import BackendUnavailable
from shared.ports.publisher import OutboundMessage, Publisher


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
