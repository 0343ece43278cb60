"""The instance-local duplicate window and the per-source token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from shared.errors import RateLimited
from shared.ingest.dedup import RecentIds
from shared.ingest.ratelimit import RateLimiter
from shared.ports.clock import FakeClock

DAY = 24 * 3600.0


def test_ids_are_duplicates_for_the_window_then_forgotten() -> None:
    clock = FakeClock()
    recent = RecentIds(clock, window_seconds=DAY, max_ids=100)
    keys = [("web", "m1"), ("web", "m2")]
    assert recent.claim(keys) == set(keys)
    recent.commit(keys)
    clock.advance(DAY - 1)
    assert recent.claim(keys) == set()
    clock.advance(2)
    assert recent.claim(keys) == set(keys)


def test_same_id_from_another_source_is_not_a_duplicate() -> None:
    recent = RecentIds(FakeClock(), DAY, 100)
    recent.commit([("web", "m1")])
    assert recent.claim([("ios", "m1")]) == {("ios", "m1")}


def test_ids_in_flight_are_claimed_once_and_released_on_failure() -> None:
    recent = RecentIds(FakeClock(), DAY, 100)
    assert recent.claim([("web", "m1")]) == {("web", "m1")}
    assert recent.claim([("web", "m1")]) == set()  # a concurrent copy
    recent.release([("web", "m1")])
    assert recent.claim([("web", "m1")]) == {("web", "m1")}  # the retry goes through


def test_memory_is_bounded_oldest_first() -> None:
    recent = RecentIds(FakeClock(), DAY, max_ids=2)
    recent.commit([("web", "a"), ("web", "b"), ("web", "c")])
    assert len(recent) == 2
    assert recent.claim([("web", "a"), ("web", "c")]) == {("web", "a")}


def test_an_id_committed_again_is_the_newest() -> None:
    recent = RecentIds(FakeClock(), DAY, max_ids=2)
    recent.commit([("web", "a"), ("web", "b")])
    recent.commit([("web", "a"), ("web", "c")])  # "b" is now the oldest
    assert recent.claim([("web", "a"), ("web", "b"), ("web", "c")]) == {("web", "b")}


def test_bucket_refills_at_the_rate_and_tells_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, lambda _source: (10.0, 20.0))
    limiter.take("web", 20)
    with pytest.raises(RateLimited) as raised:
        limiter.take("web", 15)
    assert raised.value.status == 429
    assert raised.value.headers == {"Retry-After": "2"}
    limiter.take("ios", 20)  # each source has its own bucket
    clock.advance(1.5)
    limiter.take("web", 15)


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket() -> None:
    limiter = RateLimiter(FakeClock(), lambda _source: (1.0, 5.0))
    limiter.take("web", 100)
    with pytest.raises(RateLimited):
        limiter.take("web", 1)
