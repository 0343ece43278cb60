"""Runs the Pulumi program once under mocks (no CLI, no cloud) and hands the tests what it
declared and what it would export. These tests run in their own pytest process
(``make test-infra``) because Pulumi's runtime settings are process-wide."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
STACK_CONFIG = {
    "gcp:project": PROJECT,
    "gcp:region": REGION,
    "cdp:sources": json.dumps(SOURCES),
    "cdp:destinations": json.dumps(["slack", "ga4"]),
    "cdp:destinationKeys": json.dumps({"slack": "not-a-real-key", "ga4": "not-a-real-secret"}),
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


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from infra import config
    from infra.program import build

    mocks = CloudMocks()
    pulumi.runtime.set_mocks(mocks, project="cdp", stack="test", preview=False)
    pulumi.runtime.set_all_config(dict(STACK_CONFIG), SECRET_KEYS)
    build_dir = tmp_path_factory.mktemp("build")
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        exported = build(config.load(), build_dir=build_dir)
        return pulumi.Output.from_input(exported).apply(outputs.update)

    run(program)
    yield Deployed(mocks, outputs, build_dir, tuple(mocks.declared))
