"""The fault suite's stack: the whole platform, once for the suite, with destinations retrying
fast enough that a fault of tens of seconds and its recovery fit in a test.

The short form (default) injects faults of about half a minute; ``CDP_FAULTS_FULL=1`` runs the
same cases with faults of a few minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.local import redeliver
from shared.local.processes import on_free_ports, patched_environ
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts
from tests.faults.harness import FULL

# Short form: 1 to 5 s between attempts, 40 attempts: more than a minute and a half of retries
# (the local retry keeper adds an attempt every 5 s), three times the longest short fault.
# Whole: 1 to 15 s, 80 attempts: about ten minutes, past the four-minute destination outage.
RETRY = (
    '{"attempts": 80, "minimum_backoff_seconds": 1, "maximum_backoff_seconds": 15}'
    if FULL
    else '{"attempts": 40, "minimum_backoff_seconds": 1, "maximum_backoff_seconds": 5}'
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: a fault injected into the whole local stack")


@pytest.fixture(scope="session")
def running(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    """The started stack (for faults on its processes) and its stack.json."""
    state = tmp_path_factory.mktemp("faults")
    started: list[LocalStack] = []

    def start() -> dict[str, Any]:
        config = StackConfig(StackPorts.free(), state, "cdp-faults", run_schedules=False)
        started.append(LocalStack(config))
        return started[-1].start()

    try:
        with patched_environ({"CDP_DESTINATION_RETRY": RETRY, redeliver.VARIABLE: "1"}):
            info = on_free_ports(start)
        assert started[-1].redeliverer is not None
        started[-1].redeliverer.active = False  # a pass-through until a case turns it on
        with patched_environ(info["environment"]):
            yield started[-1], info
    finally:
        if started:
            started[-1].stop()


@pytest.fixture
def stack(running: tuple[LocalStack, dict[str, Any]]) -> dict[str, Any]:
    return running[1]


@pytest.fixture
def local_stack(running: tuple[LocalStack, dict[str, Any]]) -> LocalStack:
    return running[0]
