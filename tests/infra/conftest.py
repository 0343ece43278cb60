"""Runs the Pulumi program under mocks (no CLI, no cloud) and hands the tests what it declared
and what it would export: once with every destination of the topology enabled (``deployed``),
once with none of them (``without_destinations``), once with destinations retrying briefly
(``retrying_briefly``). These tests run in their own pytest process (``make test-infra``)
because Pulumi's runtime settings are process-wide."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra import governance
from infra.access import ACCESS, PII_HASH_KEY_SECRET, SOURCES_SECRET
from infra.components.function import account_id
from infra.components.secrets import secret_id
from infra.destinations import env_name, secret_key
from shared.topology import TOPOLOGY
from tests.infra.mocks import DATASET_ACCESS, PROJECT, REGION, CloudMocks, Declared, run

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
# Every destination of the topology and the cold path's GA4, each with the keys it needs.
ENABLED = ["amplitude", "intercom", "meta", "appsflyer", "firebase", "slack", "ga4", "webhook"]
KEYS = {
    "amplitude": {"api_key": "not-a-real-key", "secret_key": "not-a-real-secret"},
    "intercom": {"access_token": "not-a-real-token"},
    "meta": {"access_token": "not-a-real-token"},
    "appsflyer": {"dev_key": "not-a-real-key"},
    "firebase": {"api_secret": "not-a-real-secret"},
    "slack": {"webhook_url": "https://hooks.slack.example/not-a-real-hook"},
    "ga4": {"api_secret": "not-a-real-secret"},
    "webhook": {"secret": "not-a-real-signer"},
}
# Destinations' non-secret settings, as cdp:settings keys <name>_<field>.
DESTINATION_SETTINGS = {
    "webhook_url": WEBHOOK_URL,
    "webhook_backfill": True,
    "meta_pixel_id": "1234567890",
    "appsflyer_app_id": {"ios": "123456789", "android": "com.example.app"},
    "firebase_measurement_id": "G-TEST12345",
    "slack_templates": {"Account Created": "New account: {userId}"},
    "amplitude_event_types": ["track", "identify"],
}
HASH_KEY = "0123456789abcdef" * 4  # not a real key
ANALYSTS = "group:analysts@example.com"
DELETION_KEYS = {"appsflyer_api_token": "not-a-real-token"}  # AppsFlyer's OpenDSR token
STACK_CONFIG = {
    "gcp:project": PROJECT,
    "cdp:piiHashKey": HASH_KEY,
    "cdp:analysts": ANALYSTS,
    "cdp:deletionKeys": json.dumps(DELETION_KEYS),
    "gcp:region": REGION,
    "cdp:sources": json.dumps(SOURCES),
    "cdp:destinations": json.dumps(ENABLED),
    "cdp:destinationKeys": json.dumps(KEYS),
    "cdp:settings": json.dumps({"cold_archive_expiration_days": 45, **DESTINATION_SETTINGS}),
}
# The same stack enabling no destination: their keys stay in config and deploy nothing.
WITHOUT_DESTINATIONS = {
    **STACK_CONFIG,
    "cdp:destinations": json.dumps([]),
    "cdp:settings": json.dumps({"cold_archive_expiration_days": 45}),
}
# The full stack with destinations retrying briefly (as tests and the local stack do).
SHORT_RETRY = {"attempts": 5, "minimum_backoff_seconds": 1, "maximum_backoff_seconds": 5}
RETRYING_BRIEFLY = {
    **STACK_CONFIG,
    "cdp:settings": json.dumps(
        {
            "cold_archive_expiration_days": 45,
            **DESTINATION_SETTINGS,
            "destination_retry": SHORT_RETRY,
        }
    ),
}
SECRET_KEYS = ["cdp:sources", "cdp:destinationKeys", "cdp:piiHashKey", "cdp:deletionKeys"]


@dataclass(frozen=True)
class Deployed:
    mocks: CloudMocks
    outputs: dict[str, Any]
    build_dir: Path
    program: tuple[Declared, ...]  # what the program declared (later tests may add more)

    def of_type(self, typ: str) -> list[Declared]:
        return [d for d in self.program if d.typ == typ]


def iam_members(deployed: Deployed) -> list[tuple[str, str, str]]:
    """(resource type, role, member) of every IAM grant the program makes."""
    return [
        (d.typ, d["role"], d["member"])
        for d in deployed.program
        if d.custom and "role" in d.inputs and "member" in d.inputs
    ]


def dataset_entries(deployed: Deployed) -> list[tuple[str, str, str]]:
    """(dataset, basic role, member) of every dataset access entry granted to an identity
    (authorised views, which name no identity, left out)."""
    fields = {"userByEmail": "serviceAccount", "groupByEmail": "group", "domain": "domain"}
    found = []
    for d in deployed.of_type(DATASET_ACCESS):
        for field, kind in fields.items():
            if field in d:
                who = d[field]
                if kind == "serviceAccount" and not who.endswith(".gserviceaccount.com"):
                    kind = "user"
                found.append((d["datasetId"], d["role"], f"{kind}:{who}"))
    return found


def function_account(name: str) -> str:
    return f"serviceAccount:{account_id(TOPOLOGY.function(name))}@{PROJECT}.iam.gserviceaccount.com"


def secrets_read(name: str) -> list[tuple[str, str]]:
    """(env var, Secret Manager id) that function ``name`` reads in the full stack: its own
    secrets that the stack stores, and one per key cdp:destinationKeys gives its destination
    and each destination it calls."""
    access = ACCESS[name]
    stored = {SOURCES_SECRET, PII_HASH_KEY_SECRET, *map(governance.secret_key, DELETION_KEYS)}
    own = [(env, secret_id(key)) for env, key in access.secrets if key in stored]
    names = [n for n in (access.destination_keys, *access.reads_keys_of) if n]
    return own + [
        (env_name(n, f), secret_id(secret_key(n, f)))
        for n in names
        for f in sorted(KEYS.get(n, {}))
    ]


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


@pytest.fixture(scope="session")
def retrying_briefly(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    return deploy(deployed.mocks, RETRYING_BRIEFLY, tmp_path_factory.mktemp("build"))
