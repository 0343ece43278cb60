"""Each port's fake and its emulator-backed adapter, as one parametrised fixture, so one
contract suite runs against both."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.pubsub import PubSubPublisher
from shared.local.emulators import EmulatorPorts
from shared.ports.documents import DocumentStore, InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher, Publisher
from shared.ports.warehouse import InMemoryWarehouse, Warehouse
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fake", "firestore"])
def documents(request: pytest.FixtureRequest) -> DocumentStore:
    if request.param == "fake":
        return InMemoryDocumentStore()
    request.getfixturevalue("emulators")
    return FirestoreDocumentStore(PROJECT)


@pytest.fixture(params=["fake", "bigquery"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    if request.param == "fake":
        return InMemoryWarehouse()
    ports: EmulatorPorts = request.getfixturevalue("emulators")
    return BigQueryWarehouse(PROJECT, "EU", f"http://127.0.0.1:{ports.bigquery}")


@pytest.fixture
def bigquery(emulators: EmulatorPorts) -> BigQueryWarehouse:
    return BigQueryWarehouse(PROJECT, "EU", f"http://127.0.0.1:{emulators.bigquery}")


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(params=["fake", "pubsub"])
def publisher_and_reader(request: pytest.FixtureRequest, unique: str) -> Any:
    """(publisher, topic, read) where read() returns [(data, attributes)] published so far."""
    topic = f"contract-{unique}"
    if request.param == "fake":
        fake = InMemoryPublisher()
        return fake, topic, lambda: [(m.data, m.attributes) for m in fake.on(topic)]
    request.getfixturevalue("emulators")
    from google.cloud import pubsub_v1

    admin = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    admin.create_topic(name=admin.topic_path(PROJECT, topic))
    sub = subscriber.subscription_path(PROJECT, topic)
    subscriber.create_subscription(name=sub, topic=admin.topic_path(PROJECT, topic))

    def read() -> list[tuple[bytes, dict[str, str]]]:
        got = subscriber.pull(subscription=sub, max_messages=100, timeout=10)
        if got.received_messages:
            subscriber.acknowledge(
                subscription=sub, ack_ids=[m.ack_id for m in got.received_messages]
            )
        return [(m.message.data, dict(m.message.attributes)) for m in got.received_messages]

    publisher: Publisher = PubSubPublisher(PROJECT)
    return publisher, topic, read
