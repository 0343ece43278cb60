"""Runs the Pulumi program under mocks (no CLI, no cloud) and hands the tests what it declared
and what it would export: once with every destination of the topology enabled (``deployed``),
once with none of them (``without_destinations``). These tests run in their own pytest process
(``make test-infra``) because Pulumi's runtime settings are process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.infra.mocks import PROJECT, REGION, CloudMocks, Declared, run

SOURCES = [
    {
        "id": "web",
        "name": "Web app",
        "kind": "web",
        "write_key_sha256": "0" * 64,
        "enabled": True,
    }
]
WEBHOOK_URL = "https://hooks.example.com/cdp"
STACK_CONFIG = {
    "gcp:project": PROJECT,
    "gcp:region": REGION,
    "cdp:sources": json.dumps(SOURCES),
    "cdp:destinations": json.dumps(["slack", "ga4", "webhook"]),
    "cdp:destinationKeys": json.dumps(
        {"slack": "not-a-real-key", "ga4": "not-a-real-secret", "webhook": "not-a-real-signer"}
    ),
    "cdp:settings": json.dumps(
        {"cold_archive_expiration_days": 45, "webhook_url": WEBHOOK_URL, "webhook_backfill": True}
    ),
}
# The same stack without the destinations that have a function of their own (GA4, the webhook).
WITHOUT_DESTINATIONS = {
    **STACK_CONFIG,
    "cdp:destinations": json.dumps(["slack"]),
    "cdp:destinationKeys": json.dumps({"slack": "not-a-real-key"}),
    "cdp:settings": json.dumps({"cold_archive_expiration_days": 45}),
}
SECRET_KEYS = ["cdp:sources", "cdp:destinationKeys"]


@dataclass(frozen=True)
class Deployed:
    mocks: CloudMocks
    outputs: dict[str, Any]
    build_dir: Path
    program: tuple[Declared, ...]  # what the program declared (later tests may add more)

    def of_type(self, typ: str) -> list[Declared]:
        return [d for d in self.program if d.typ == typ]


@contextmanager
def stack_config(values: dict[str, str]) -> Iterator[None]:
    """Run the program with ``values`` as its config, then give later runs the full stack's."""
    pulumi.runtime.set_all_config(dict(values), SECRET_KEYS)
    try:
        yield
    finally:
        pulumi.runtime.set_all_config(dict(STACK_CONFIG), SECRET_KEYS)


def deploy(mocks: CloudMocks, values: dict[str, str], build_dir: Path) -> Deployed:
    """Run the program on ``values``; what it declared is what ``mocks`` recorded meanwhile."""
    from infra import config
    from infra.program import build

    before = len(mocks.declared)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        exported = build(config.load(), build_dir=build_dir)
        return pulumi.Output.from_input(exported).apply(outputs.update)

    with stack_config(values):
        run(program)
    return Deployed(mocks, outputs, build_dir, tuple(mocks.declared[before:]))


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    mocks = CloudMocks()
    pulumi.runtime.set_mocks(mocks, project="cdp", stack="test", preview=False)
    return deploy(mocks, STACK_CONFIG, tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def without_destinations(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    return deploy(deployed.mocks, WITHOUT_DESTINATIONS, tmp_path_factory.mktemp("build"))


ELSEWHERE = """
import json, pathlib, sys
import pulumi
from infra import config
from infra.program import build
from tests.infra.mocks import CloudMocks, run

pulumi.runtime.set_mocks(CloudMocks(), project="cdp", stack="test", preview=False)
pulumi.runtime.set_all_config(json.loads(sys.argv[1]), json.loads(sys.argv[2]))
try:
    run(lambda: pulumi.Output.from_input(build(config.load(), build_dir=pathlib.Path(sys.argv[3]))))
except Exception as error:
    print(f"{type(error).__name__}: {error}")
"""


def deploy_elsewhere(values: dict[str, str], build_dir: Path) -> str:
    """Run the program on ``values`` in a process of its own and return how it failed
    ("<exception class>: <message>"), or "" when it did not. A failing run leaves resources
    it had half declared registering during whatever the mocks run next: not in this process."""
    repo = Path(__file__).resolve().parents[2]
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            ELSEWHERE,
            json.dumps(values),
            json.dumps(SECRET_KEYS),
            str(build_dir),
        ],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()
