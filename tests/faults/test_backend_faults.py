"""A store that stops answering for a while: Firestore, then BigQuery, frozen mid-stream.

The emulator's process is stopped (SIGSTOP) while a population streams in, so every call to
it hangs, as a store that is slow or unreachable would, then continued. The function that
needs it (identity for Firestore, the loader for BigQuery; ingest reads Firestore too, for
the tier) times out and answers 5xx, Pub/Sub redelivers, and ingest's callers retry what it
refused. After the store answers again, every store has every event once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.local.faults import frozen
from shared.local.stack import LocalStack
from tests.faults.harness import FULL, population, send, settled

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
FROZEN_SECONDS = 60 if FULL else 15


@pytest.mark.timeout(900)
@pytest.mark.parametrize("emulator", ["firestore-emulator", "bigquery-emulator"])
def test_a_store_that_stops_answering_loses_and_doubles_nothing(
    stack: dict[str, Any], local_stack: LocalStack, emulator: str
) -> None:
    people = population(f"frozen-{emulator.split('-')[0]}", events=60 if not FULL else 300)
    started = time.monotonic()
    retried: list[int] = []
    sender = threading.Thread(
        target=lambda: retried.append(send(stack, people, 5, retry=FROZEN_SECONDS + 120))
    )
    with frozen(local_stack, emulator):
        sender.start()
        time.sleep(FROZEN_SECONDS)
    sender.join()

    settled(
        stack,
        people,
        f"{emulator} not answering for {FROZEN_SECONDS} s "
        f"(ingest refused {retried[0]} requests, retried by the sender)",
        started,
    )
