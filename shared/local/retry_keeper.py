"""Keeps the Pub/Sub emulator retrying pushes that failed (local stack only; never deployed).

The emulator (0.8.20) delays a failed push by the subscription's retry policy in a timer task of
its own. When several pushes of one subscription fail in the same millisecond (a function
that is down refuses them all at once), one ack id can be scheduled twice; the second firing
meets a message that is no longer outstanding, the task dies on the error, and from then on no
delayed message of that subscription is ever pushed again (`tests/integration/
test_retry_keeper.py` reproduces it). The cloud service has no such defect.

The keeper clears each push subscription's retry policy and, ``GAP_SECONDS`` later, sets it
back, every ``interval(subscription)`` seconds: clearing empties the emulator's delayed set, so
those messages go back to its plain redelivery, which pushes them within the gap (its push loop
runs every 100 ms; a push that fails again waits a second there, so each reset adds at most one
attempt), and the policy applies again to the next failure.
A failed push is therefore retried at the latest about one maximum backoff later (at most
``MAX_INTERVAL_SECONDS``), sometimes sooner than the policy says. Delivery attempts are still
counted, and a reset adds at most one: a message that keeps failing still dead-letters after
the subscription's number of attempts, only somewhat sooner than the policy alone would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.protobuf import field_mask_pb2

from shared.local.provision import retry_policy
from shared.topology import Subscription

MAX_INTERVAL_SECONDS = 30.0
MIN_INTERVAL_SECONDS = 2.0
GAP_SECONDS = 0.5  # the emulator's push loop (every 100 ms) takes the cleared messages back


def interval(subscription: Subscription) -> float:
    """How often a subscription's retry policy is reset: its maximum backoff, bounded."""
    seconds = float(subscription.retry.maximum_backoff_seconds)
    return max(MIN_INTERVAL_SECONDS, min(seconds, MAX_INTERVAL_SECONDS))


def due(
    subscriptions: Sequence[Subscription], last: Mapping[str, float], now: float
) -> list[Subscription]:
    """The subscriptions whose reset is due at ``now`` (monotonic seconds)."""
    return [s for s in subscriptions if now - last.get(s.name, now) >= interval(s)]


class RetryKeeper:
    def __init__(self, project: str, subscriptions: Sequence[Subscription]) -> None:
        self._project = project
        self._subscriptions = list(subscriptions)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retry-keeper", daemon=True)
        self.resets = 0  # retry policies cleared so far (each is set again GAP_SECONDS later)

    def start(self) -> None:
        """Call with the emulator's host in the environment: the client is made here."""
        self._subscriber = pubsub_v1.SubscriberClient()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _update(
        self, subscriber: pubsub_v1.SubscriberClient, sub: Subscription, restore: bool
    ) -> None:
        subscription: dict[str, object] = {
            "name": subscriber.subscription_path(self._project, sub.name)
        }
        if restore:
            subscription["retry_policy"] = retry_policy(sub)
        mask = field_mask_pb2.FieldMask(paths=["retry_policy"])
        subscriber.update_subscription(request={"subscription": subscription, "update_mask": mask})

    def reset(self, subscriber: pubsub_v1.SubscriberClient, subs: Sequence[Subscription]) -> None:
        """Clear the retry policy of ``subs``, wait ``GAP_SECONDS``, set it again."""
        cleared = []
        for sub in subs:
            try:
                self._update(subscriber, sub, restore=False)
                cleared.append(sub)
                self.resets += 1
            except Exception as error:  # the emulator stopping, or not up yet
                print(f"retry keeper: {sub.name}: {error}", flush=True)
        if cleared:
            time.sleep(GAP_SECONDS)  # never cut short: a policy left cleared changes retries
        for sub in cleared:
            try:
                self._update(subscriber, sub, restore=True)
            except Exception as error:
                print(f"retry keeper: {sub.name}: {error}", flush=True)

    def _loop(self) -> None:
        subscriber = self._subscriber
        last = {s.name: time.monotonic() for s in self._subscriptions}
        try:
            while not self._stop.wait(1.0):
                now = time.monotonic()
                subs = due(self._subscriptions, last, now)
                self.reset(subscriber, subs)
                last.update({s.name: now for s in subs})
        finally:
            subscriber.close()
