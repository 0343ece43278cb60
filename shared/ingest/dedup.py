"""Recently seen messageIds, per instance: SDK retries dropped before they cost anything.

Why only this at ingest: a global check (a Firestore read+write per event, or a Redis
instance) would cost more than the rest of the pipeline (Firestore writes alone are ~$1.80 per
million events). SDK retries usually follow within seconds and mostly reach the same warm
instance, so a bounded in-memory window catches the common case for free. Exactly-once counts do
not depend on it: consumers are idempotent on ``messageId`` (BigQuery insertId plus the
scheduled dedup job; identity writes are keyed by event), which also covers Pub/Sub's own
at-least-once redeliveries.

Ids are remembered only once Pub/Sub has accepted them: a request that failed to publish must
not make its retry look like a duplicate.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from shared.ports.clock import Clock

Key = tuple[str, str]  # (source id, messageId): one source cannot shadow another's events


class RecentIds:
    def __init__(self, clock: Clock, window_seconds: float, max_ids: int) -> None:
        self._clock = clock
        self._window = window_seconds
        self._max = max_ids
        self._seen: OrderedDict[Key, float] = OrderedDict()
        self._pending: set[Key] = set()
        self._lock = threading.Lock()

    def claim(self, keys: Iterable[Key]) -> set[Key]:
        """Reserve the keys not seen (nor in flight); returns those the caller may publish."""
        now = self._clock.monotonic()
        with self._lock:
            self._expire(now)
            seen, pending = self._seen, self._pending
            fresh = {key for key in keys if key not in seen and key not in pending}
            pending |= fresh
        return fresh

    def commit(self, keys: Iterable[Key]) -> None:
        """The events are safe in Pub/Sub: remember them for the window."""
        now = self._clock.monotonic()
        keys = list(keys)
        with self._lock:
            self._pending.difference_update(keys)
            seen = self._seen
            seen.update(dict.fromkeys(keys, now))
            move = seen.move_to_end
            for key in keys:  # last seen last, in order: the oldest are expired first
                move(key)
            while len(seen) > self._max:
                seen.popitem(last=False)

    def release(self, keys: Iterable[Key]) -> None:
        """Publishing failed: a retry of these events must go through."""
        with self._lock:
            self._pending.difference_update(keys)

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._window:
                return
            del self._seen[key]
