"""Per-source rate limit: a token bucket of events per source, in this instance's memory.

Instance-local on purpose: a shared counter would add a network round trip to every request.
The function's ``max_instances`` bounds the global rate; the bucket protects an instance (and
the bill) from one runaway source without slowing the others.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import RateLimited
from shared.ports.clock import Clock

RATE_LIMITED = "Source {source} is over its rate limit: retry after {seconds} s."


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Clock, rate_of: Callable[[str], tuple[float, float]]) -> None:
        self._clock = clock
        self._rate_of = rate_of  # source id -> (events per second, burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, source_id: str, events: int) -> None:
        """Spend ``events`` tokens or raise ``RateLimited`` with the wait until they refill."""
        rate, burst = self._rate_of(source_id)
        now = self._clock.monotonic()
        cost = min(float(max(events, 1)), burst)  # a batch bigger than the burst still passes
        with self._lock:
            bucket = self._buckets.setdefault(source_id, _Bucket(burst, now))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return
            wait = max(1, math.ceil((cost - bucket.tokens) / rate)) if rate > 0 else 60
        raise RateLimited(
            RATE_LIMITED.format(source=source_id, seconds=wait), retry_after_seconds=wait
        )
