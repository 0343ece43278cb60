"""A consumer killed mid-batch and started again: nothing lost, nothing doubled.

The warehouse loader (then the identity function) is SIGKILLed while a population streams in,
stays down a few seconds, and starts again. Pushes it never answered are redelivered by
Pub/Sub; rows it wrote before dying are not written twice (insertIds and the dedup tables),
and profiles are not split.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.local.faults import kill_and_restart
from shared.local.stack import LocalStack
from tests.faults.harness import FULL, population, send, settled

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
DOWN_SECONDS = 20 if FULL else 3


@pytest.mark.timeout(900)
@pytest.mark.parametrize("function", ["warehouse-loader", "identity"])
def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(
    stack: dict[str, Any], local_stack: LocalStack, function: str
) -> None:
    people = population(f"kill-{function}", events=60 if not FULL else 300)
    started = time.monotonic()
    sender = threading.Thread(target=send, args=(stack, people, 5))
    sender.start()
    time.sleep(0.5)  # some batches are in, others still coming
    kill_and_restart(local_stack, function, down_seconds=DOWN_SECONDS)
    sender.join()

    case = f"{function} killed mid-batch, down {DOWN_SECONDS} s, restarted"
    settled(stack, people, case, started)
