"""The Pub/Sub emulator restarted between two populations.

The emulator keeps nothing: the stack provisions the topology again when it is back
(``restart_pubsub``), as an operator restarting ``cdp dev`` would. While it is down ingest
cannot publish and answers 503, so nothing it accepted is lost and the sender (an SDK) retries.
What the emulator held at the moment it stopped is gone, which no local stack can survive: the
cloud service keeps every unacknowledged message for the subscription's retention (7 days
here) across any restart of its own. So the first population is complete before the restart,
and the second is sent while Pub/Sub is down and after it is back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.local.faults import restart_pubsub
from shared.local.stack import LocalStack
from tests.faults.harness import FULL, awaited, census, population, send, table

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
DOWN_SECONDS = 30 if FULL else 5
SETTLE_SECONDS = 5


@pytest.mark.timeout(900)
def test_a_pubsub_restart_loses_nothing_ingest_accepted(
    stack: dict[str, Any], local_stack: LocalStack
) -> None:
    before = population("pubsub-before")
    send(stack, before, 10)
    awaited(stack, before, 300, "before the Pub/Sub restart")

    during = population("pubsub-during", events=60 if not FULL else 300)
    started = time.monotonic()
    retried: list[int] = []
    restart = threading.Thread(target=restart_pubsub, args=(local_stack, DOWN_SECONDS))
    restart.start()
    time.sleep(0.5)  # the emulator is going down
    retried.append(send(stack, during, 5, retry=DOWN_SECONDS + 180))
    restart.join()

    awaited(stack, during, 300, "after the Pub/Sub restart")
    took = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    for people, case in ((before, "complete before"), (during, "sent during and after")):
        counts = census(stack, people)
        table(
            f"Pub/Sub emulator restarted, down {DOWN_SECONDS} s: population {case} "
            f"(ingest refused {retried[0]} requests, retried by the sender)",
            counts,
            took,
        )
        assert all(c.lost == 0 and c.duplicated == 0 for c in counts), counts
