"""Shared fixtures. Emulators start once per test session on free ports and are stopped by
process group; the whole local stack starts once for the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.local.emulators import EmulatorPorts, start_emulators
from shared.local.processes import ManagedProcess, free_port, on_free_ports, patched_environ
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = "cdp-test"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorPorts]:
    """Pub/Sub, Firestore and BigQuery emulators; their hosts are exported to this process."""

    def start() -> tuple[EmulatorPorts, list[ManagedProcess]]:
        ports = EmulatorPorts(free_port(), free_port(), free_port(), free_port())
        return ports, start_emulators(ports, PROJECT, tmp_path_factory.mktemp("emulators"))

    ports, processes = on_free_ports(start)
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
    started: list[LocalStack] = []

    def start() -> dict[str, Any]:
        config = StackConfig(StackPorts.free(), state, project_id="cdp-e2e", run_schedules=False)
        started.append(LocalStack(config))
        return started[-1].start()  # a failed start stops what it started

    try:
        yield on_free_ports(start)
    finally:
        started[-1].stop()


@pytest.fixture
def stack_env(stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Inside a test: official clients created now talk to the stack's emulators."""
    with patched_environ(stack["environment"]):
        yield stack
