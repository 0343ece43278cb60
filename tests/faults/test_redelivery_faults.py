"""Every Pub/Sub push delivered twice and out of order: nothing doubled in any store.

The local stack's pushes go through a proxy (``shared/local/redeliver.py``); for this case it
delivers each push a second time after a random delay of up to 3 s, to every function: the
identity function, the warehouse loader and each destination all see each message twice,
copies arriving after later messages.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.local.stack import LocalStack
from tests.faults.harness import awaited, census, population, send, table

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
SETTLE_SECONDS = 8  # past the largest redelivery delay


@pytest.mark.timeout(900)
def test_every_message_twice_out_of_order_doubles_nothing(
    stack: dict[str, Any], local_stack: LocalStack
) -> None:
    proxy = local_stack.redeliverer
    assert proxy is not None
    people = population("twice")
    started = time.monotonic()
    copies = proxy.copies
    proxy.active = True
    try:
        send(stack, people, batch=3)
        awaited(stack, people, 300, "every push twice")
        time.sleep(SETTLE_SECONDS)  # every copy has arrived
    finally:
        proxy.active = False
    took = time.monotonic() - started
    counts = census(stack, people)
    table(f"every push twice, out of order ({proxy.copies - copies} copies)", counts, took)
    assert proxy.copies - copies >= len(people.events), "the copies were not delivered"
    assert all(c.lost == 0 and c.duplicated == 0 for c in counts), counts
