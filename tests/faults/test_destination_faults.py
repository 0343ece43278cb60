"""A destination that fails, then throttles, then recovers: every event reaches it once.

Amplitude's stand-in answers 500 for the first part of the fault and 429 (with Retry-After)
for the rest; Pub/Sub redelivers the destination's messages with backoff until it recovers.
Every other store has every event once meanwhile, and, after the recovery, Amplitude has each
insert_id once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.faults.harness import FULL, awaited, census, population, send, standin, table

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
ERRORS_SECONDS = 120 if FULL else 15  # 500s, then
THROTTLED_SECONDS = 120 if FULL else 15  # 429s
SETTLE_SECONDS = 5


@pytest.mark.timeout(900)
def test_500_then_429_then_recovery_delivers_each_event_once(stack: dict[str, Any]) -> None:
    standin(stack, "amplitude", "POST", status=500, seconds=ERRORS_SECONDS)
    standin(stack, "amplitude", "POST", status=429, retry_after=1,
            seconds=ERRORS_SECONDS + THROTTLED_SECONDS)  # fmt: skip
    started = time.monotonic()
    people = population("dest500")
    send(stack, people)

    fault = ERRORS_SECONDS + THROTTLED_SECONDS
    awaited(stack, people, fault + 240, "destination fault")
    took = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)  # a late redelivery would show as a duplicate
    counts = census(stack, people)
    table("destination 500 then 429, then recovery", counts, took)

    refused = standin(stack, "amplitude")["failed_on_purpose"]
    assert refused >= 2, "the fault never reached Amplitude"
    assert took >= fault - 5, "Amplitude had the events before it recovered"
    assert all(c.lost == 0 and c.duplicated == 0 for c in counts), counts
