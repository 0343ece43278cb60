"""The Pub/Sub emulator's lost retries, and the keeper that restores them.

Twenty messages are pushed to an endpoint that refuses connections for three seconds (a
function that is down), through a subscription with a retry policy of 1 to 5 s. Without the
keeper the emulator delivered 7 of the 20 and never retried the other 13 in 100 s (four runs
of the same script, 2026-12-02); with it, every message arrives within a few resets.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.local.emulators import EmulatorPorts
from shared.local.processes import free_port
from shared.local.provision import subscription_request
from shared.local.retry_keeper import RetryKeeper, due, interval
from shared.topology import RetryPolicy, Subscription
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration


class Endpoint:
    """A push endpoint that records each message's data; refuses connections until up()."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[str] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    def up(self) -> None:
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                got.append(base64.b64decode(body["message"]["data"]).decode())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()
    yield found
    found.down()


def test_messages_refused_by_a_function_that_was_down_all_arrive(
    emulators: EmulatorPorts, endpoint: Endpoint
) -> None:
    run = uuid.uuid4().hex[:8]
    sub = Subscription(
        f"keeper-{run}", f"keeper-{run}", "f", max_delivery_attempts=100,
        retry=RetryPolicy(minimum_backoff_seconds=1, maximum_backoff_seconds=5),
    )  # fmt: skip
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in (sub.topic, sub.dead_letter_topic):
        publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
    push = f"http://127.0.0.1:{endpoint.port}/"
    subscriber.create_subscription(request=subscription_request(PROJECT, sub, push))
    keeper = RetryKeeper(PROJECT, [sub])
    keeper.start()
    try:
        sent = {f"{run}-{n}" for n in range(20)}
        for data in sorted(sent):
            publisher.publish(publisher.topic_path(PROJECT, sub.topic), data.encode()).result()
        time.sleep(3)  # every push so far was refused
        endpoint.up()
        deadline = time.monotonic() + 4 * interval(sub) + 10
        while not sent <= set(endpoint.got) and time.monotonic() < deadline:
            time.sleep(0.2)
        missing = len(sent - set(endpoint.got))
        assert missing == 0, f"{missing} never arrived ({keeper.resets} resets)"
        assert keeper.resets >= 1
    finally:
        keeper.stop()
        subscriber.delete_subscription(subscription=subscriber.subscription_path(PROJECT, sub.name))
        subscriber.close()


@pytest.mark.parametrize(
    ("maximum_backoff", "expected"), [(1, 2.0), (5, 5.0), (12, 12.0), (600, 30.0)]
)
def test_a_subscription_is_reset_every_maximum_backoff_within_bounds(
    maximum_backoff: int, expected: float
) -> None:
    sub = Subscription("s", "t", "f", retry=RetryPolicy(1, maximum_backoff))
    assert interval(sub) == expected
    assert due([sub], {"s": 100.0}, 100.0 + expected) == [sub]
    assert due([sub], {"s": 100.0}, 100.0 + expected - 0.1) == []
