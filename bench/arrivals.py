"""When each sent event reached each store, read as close to the store as the local stack
allows, so that watching does not add to what is measured (a Firestore listener on the
profiles and a BigQuery poll every second during the load took identity's p50 publish from
0.17 s to 4.6 s, in one 20 s run of each at 30 events/s; the emulators share the two cores):

- destinations: the stand-ins run in this process (``LocalStack.providers``, ``.webhook``), so
  a thread reads what each recorded, every 20 ms, and stamps each new messageId as it appears
  (the stand-ins keep no receive time of their own);
- profiles: after the load, each identify's profile, whose ``update_time`` is the emulator's
  commit time of the write;
- warehouse: after the load, each ``cdp_raw.events`` row's ``loaded_at``, the loader's own
  time just before its insert;
- on the way: when each event was published to a topic (``PublishTap``), to tell which hop
  takes the time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]

from bench.steady import PROBE_TRAIT
from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.identity.graph import PROFILES
from shared.identity.profiles import ProfileRepository
from shared.local.stack import LocalStack

STANDIN_EVERY_SECONDS = 0.02


class _Poller:
    """A daemon thread calling ``step`` every ``every`` seconds until ``stop``."""

    def __init__(self, step: Callable[[], None], every: float) -> None:
        self._stop = threading.Event()
        self._step, self._every = step, every
        self.errors = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._step()
            except Exception:  # a failed poll is retried at the next tick
                self.errors += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class StandinWatch:
    """First-seen time and copies of each messageId starting with ``prefix``, per stand-in."""

    def __init__(
        self, stack: LocalStack, prefix: str, every: float = STANDIN_EVERY_SECONDS
    ) -> None:
        self.prefix = prefix
        self._providers = dict(stack.providers)
        self._webhook = stack.webhook
        self._read: Counter[str] = Counter()  # entries read so far, per stand-in
        self.first: dict[str, dict[str, float]] = {}
        self.copies: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()  # step runs on the poller and on callers' threads
        self._poller = _Poller(self.step, every)

    def start(self) -> StandinWatch:
        self._poller.start()
        return self

    def stop(self) -> None:
        self._poller.stop()
        self.step()

    def step(self) -> None:
        with self._lock:
            self._step()

    def _step(self) -> None:
        now = time.time()
        for name, standin in self._providers.items():
            entries = standin.delivered[self._read[name] :]
            self._read[name] += len(entries)
            self._note(name, (str(e.get("key")) for e in entries), now)
        if self._webhook is not None:
            payloads = self._webhook.accepted[self._read["webhook"] :]
            self._read["webhook"] += len(payloads)
            ids = (str(e.get("messageId")) for p in payloads for e in p.get("batch", []))
            self._note("webhook", ids, now)

    def _note(self, name: str, keys: Iterable[str], now: float) -> None:
        first, copies = self.first.setdefault(name, {}), self.copies.setdefault(name, Counter())
        for key in keys:
            if key.startswith(self.prefix):
                first.setdefault(key, now)
                copies[key] += 1


def profile_commits(project: str, users: Mapping[str, str]) -> dict[str, float]:
    """For each identify (messageId -> its user) whose trait the user's profile shows, the
    profile's ``update_time``: the emulator's commit time of its last write. Tracks within the
    hour do not write a profile (last_seen moves hourly), so that is the identify's write, or
    a later one: a bound from above, read after the load, so nothing polls during it."""
    client = firestore.Client(project=project)
    profiles = ProfileRepository(FirestoreDocumentStore(project))
    found: dict[str, float] = {}
    try:
        for mid, user in users.items():
            profile = profiles.find(("user_id", user))
            slot = ((profile or {}).get("traits") or {}).get(PROBE_TRAIT) or {}
            if profile is None or slot.get("message_id") != mid:
                continue
            snapshot = client.collection(PROFILES).document(str(profile["profile_id"])).get()
            if snapshot.exists and snapshot.update_time is not None:
                found[mid] = snapshot.update_time.timestamp()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return found


def warehouse_loaded(bq: BigQueryWarehouse, project: str, prefix: str) -> dict[str, float]:
    """``loaded_at`` of each ``cdp_raw.events`` row of ``prefix`` (the first copy's)."""
    rows = bq.query(
        f"SELECT message_id, MIN(loaded_at) AS loaded_at FROM `{project}.cdp_raw.events` "
        "WHERE STARTS_WITH(message_id, @run) GROUP BY message_id",
        {"run": prefix},
    )
    return {str(r["message_id"]): r["loaded_at"].timestamp() for r in rows}


def stored_ids(bq: BigQueryWarehouse, project: str, table: str, prefix: str) -> Counter[str]:
    """Copies of each message_id of ``prefix`` in ``table`` (``dataset.table``)."""
    rows = bq.query(
        f"SELECT message_id FROM `{project}.{table}` WHERE STARTS_WITH(message_id, @run)",
        {"run": prefix},
    )
    return Counter(str(r["message_id"]) for r in rows)


def stored_count(bq: BigQueryWarehouse, project: str, table: str, prefix: str) -> int:
    rows = bq.query(
        f"SELECT COUNT(DISTINCT message_id) AS n FROM `{project}.{table}` "
        "WHERE STARTS_WITH(message_id, @run)",
        {"run": prefix},
    )
    return int(rows[0]["n"]) if rows else 0


class PublishTap:
    """A pull subscription on ``topic`` made before the load: afterwards, when each event of
    ``prefix`` was published there (Pub/Sub's ``publish_time``, stamped by the emulator), so
    a slow hop shows between two topics' times."""

    def __init__(self, project: str, topic: str, prefix: str) -> None:
        self._subscriber = pubsub_v1.SubscriberClient()
        self._path = self._subscriber.subscription_path(project, f"bench-tap-{topic}-{prefix}")
        topic_path = pubsub_v1.PublisherClient.topic_path(project, topic)
        self._subscriber.create_subscription(name=self._path, topic=topic_path)
        self._prefix = prefix

    def published(self, pulls: int = 200) -> dict[str, float]:
        found: dict[str, float] = {}
        for _ in range(pulls):  # bounded: up to 1,000 messages a pull
            answer = self._subscriber.pull(subscription=self._path, max_messages=1000, timeout=10)
            if not answer.received_messages:
                break
            for received in answer.received_messages:
                at = received.message.publish_time.timestamp()
                for event in json.loads(received.message.data).get("events", []):
                    mid = str(event.get("messageId", ""))
                    if mid.startswith(self._prefix):
                        found.setdefault(mid, at)
            ids = [r.ack_id for r in answer.received_messages]
            self._subscriber.acknowledge(subscription=self._path, ack_ids=ids)
        self._subscriber.delete_subscription(subscription=self._path)
        self._subscriber.close()
        return found
