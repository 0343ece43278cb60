"""Delivery semantics on the Pub/Sub emulator, with subscriptions created exactly as the local
stack creates them from the topology: a consumer that raises is redelivered, then dead-lettered
after the configured attempts; one that succeeds is not called again for the same message."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from shared.local.emulators import EmulatorPorts
from shared.local.processes import ManagedProcess, free_port, wait_http
from shared.local.provision import subscription_request
from shared.topology import TOPOLOGY, RetryPolicy
from tests.conftest import PROJECT

REPO = Path(__file__).resolve().parents[2]
RECORDER = REPO / "tests" / "fixtures" / "functions" / "recorder" / "main.py"
ATTEMPTS = 5  # Pub/Sub's minimum for a dead-letter policy


@pytest.fixture(scope="module")
def recorder(
    emulators: EmulatorPorts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("recorder")
    log = state / "deliveries.jsonl"
    port = free_port()
    process = ManagedProcess(
        "recorder",
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(RECORDER),
            "--target",
            "record",
            "--signature-type",
            "cloudevent",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        state / "recorder.log",
        env={"PYTHONPATH": str(REPO), "RECORDER_LOG": str(log), "PATH": "/usr/bin:/bin"},
        cwd=REPO,
    )
    wait_http(f"http://127.0.0.1:{port}/", process)
    yield f"http://127.0.0.1:{port}/", log
    process.stop()


@pytest.fixture(scope="module")
def wired(recorder: tuple[str, Path]) -> dict[str, object]:
    """A topic and a push subscription declared like the topology's, with short backoff."""
    url, log = recorder
    declared = TOPOLOGY.subscriptions[0]
    sub = dataclasses.replace(
        declared,
        name="delivery-test",
        topic="delivery-test-topic",
        max_delivery_attempts=ATTEMPTS,
        retry=RetryPolicy(minimum_backoff_seconds=0, maximum_backoff_seconds=1),
        ack_deadline_seconds=10,
    )
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in (sub.topic, sub.dead_letter_topic):
        publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
    subscriber.create_subscription(request=subscription_request(PROJECT, sub, url))
    dead = subscriber.subscription_path(PROJECT, sub.dead_letter_topic)
    subscriber.create_subscription(
        name=dead, topic=publisher.topic_path(PROJECT, sub.dead_letter_topic)
    )
    return {
        "publisher": publisher,
        "subscriber": subscriber,
        "topic": publisher.topic_path(PROJECT, sub.topic),
        "dead": dead,
        "log": log,
    }


def deliveries(log: Path) -> Counter[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(json.loads(line)["key"] for line in lines)


def wait_for(condition, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def pull_dead_letters(wired: dict[str, object]) -> list[dict[str, str]]:
    subscriber = wired["subscriber"]
    got = subscriber.pull(subscription=wired["dead"], max_messages=10, timeout=5)  # type: ignore[attr-defined]
    if got.received_messages:
        subscriber.acknowledge(
            subscription=wired["dead"], ack_ids=[m.ack_id for m in got.received_messages]
        )  # type: ignore[attr-defined]
    return [dict(m.message.attributes) for m in got.received_messages]


def test_a_raising_consumer_is_redelivered_then_dead_lettered(wired: dict[str, object]) -> None:
    wired["publisher"].publish(wired["topic"], b"{}", key="broken", fail="always").result()  # type: ignore[attr-defined]
    dead: list[dict[str, str]] = []
    assert wait_for(lambda: bool(dead.extend(pull_dead_letters(wired)) or dead), timeout=90)
    assert dead[0]["key"] == "broken"
    assert dead[0]["CloudPubSubDeadLetterSourceDeliveryCount"] == str(ATTEMPTS)
    assert deliveries(wired["log"])["broken"] == ATTEMPTS  # type: ignore[arg-type]


def test_a_retried_message_and_a_successful_one_are_not_delivered_again(
    wired: dict[str, object],
) -> None:
    publish = wired["publisher"].publish  # type: ignore[attr-defined]
    publish(wired["topic"], b"{}", key="flaky", fail="once").result()
    publish(wired["topic"], b"{}", key="fine").result()
    log: Path = wired["log"]  # type: ignore[assignment]
    assert wait_for(lambda: deliveries(log)["flaky"] >= 2 and deliveries(log)["fine"] >= 1)
    time.sleep(12)  # longer than the ack deadline: an unacknowledged message would be back
    assert (deliveries(log)["flaky"], deliveries(log)["fine"]) == (2, 1)
    assert pull_dead_letters(wired) == []
