"""Shared fixtures. Emulators start once per test session on free ports and are stopped by
process group; the whole local stack starts once for the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.local.emulators import EmulatorPorts, start_emulators
from shared.local.processes import ManagedProcess, free_port, patched_environ
from shared.local.stack import LocalStack, StackConfig, StackPorts

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = "cdp-test"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorPorts]:
    """Pub/Sub, Firestore and BigQuery emulators; their hosts are exported to this process."""
    ports = EmulatorPorts(free_port(), free_port(), free_port(), free_port())
    processes: list[ManagedProcess] = start_emulators(
        ports, PROJECT, tmp_path_factory.mktemp("emulators")
    )
    try:
        with patched_environ(ports.environment(PROJECT)):
            yield ports
    finally:
        for process in processes:
            process.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole platform, as `cdp dev --no-demo` starts it; yields its stack.json."""
    state = tmp_path_factory.mktemp("stack")
    local = LocalStack(
        StackConfig(
            ports=StackPorts.free(), state_dir=state, project_id="cdp-e2e", run_schedules=False
        )
    )
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def stack_env(stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Inside a test: official clients created now talk to the stack's emulators."""
    with patched_environ(stack["environment"]):
        yield stack
