"""The subscriber port (operators' pulls from dead-letter subscriptions): the fake and the
Pub/Sub emulator behave alike: pull leases, release gives back, acknowledge removes, an empty
subscription answers with nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.cloud import pubsub_v1

from shared.adapters.pubsub import PubSubSubscriber
from shared.ports.subscriber import InMemorySubscriber, Subscriber
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration
Put = Callable[[bytes], None]


@pytest.fixture(params=["fake", "pubsub"])
def queue(request: pytest.FixtureRequest, unique: str) -> tuple[Subscriber, str, Put]:
    name = f"dead-{unique}"
    if request.param == "fake":
        fake = InMemorySubscriber()
        return fake, name, lambda data: fake.put(name, data, kind="events")
    request.getfixturevalue("emulators")
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscriber.subscription_path(PROJECT, name), topic=topic)

    def put(data: bytes) -> None:
        publisher.publish(topic, data, kind="events").result(timeout=30)

    return PubSubSubscriber(PROJECT), name, put


def pull_all(subscriber: Subscriber, name: str, want: int) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(20):  # the emulator may hand out fewer than are waiting
        batch = subscriber.pull(name, 10)
        got += [m.data for m in batch]
        subscriber.release(name, [m.ack_id for m in batch])
        if len(got) >= want:
            break
    return got


def test_pull_release_acknowledge(queue: tuple[Subscriber, str, Put]) -> None:
    subscriber, name, put = queue
    assert subscriber.pull(name, 10) == []  # empty: answers at once, with nothing
    for n in range(3):
        put(f"m{n}".encode())
    assert sorted(set(pull_all(subscriber, name, 3))) == [b"m0", b"m1", b"m2"]
    leased = []
    for _ in range(20):
        leased += subscriber.pull(name, 10)
        if len({m.data for m in leased}) >= 3:
            break
    subscriber.acknowledge(name, [m.ack_id for m in leased])
    assert leased[0].attributes["kind"] == "events"
    assert subscriber.pull(name, 10) == []
