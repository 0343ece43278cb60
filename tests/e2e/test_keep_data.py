"""A restarted stack: with ``keep_data`` BigQuery and Firestore come back together (an event
sent just before the stop included: the stop lets it drain); without, every store is empty."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.identity.profiles import ProfileRepository
from shared.local.emulators import start_emulators
from shared.local.processes import on_free_ports, patched_environ
from shared.local.provision import create_warehouse
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts
from shared.settings import Settings
from tests.e2e.conftest import eventually, post

PROJECT = "cdp-keep"


def started(state: Path, keep_data: bool) -> tuple[LocalStack, dict[str, Any]]:
    stacks: list[LocalStack] = []

    def start() -> dict[str, Any]:
        config = StackConfig(StackPorts.free(), state, PROJECT, run_schedules=False,
                             keep_data=keep_data)  # fmt: skip
        stacks.append(LocalStack(config))
        return stacks[-1].start()

    info = on_free_ports(start)
    return stacks[-1], info


def identify(info: dict[str, Any], user: str) -> str:
    message_id = f"m-{uuid.uuid4()}"
    body = {"userId": user, "anonymousId": f"a-{user}", "messageId": message_id}
    url, key = info["ingest_url"] + "/v1/identify", info["write_keys"]["web"]
    assert post(url, body, key) == (200, {"success": True})
    return message_id


def stored(info: dict[str, Any], user: str, message_id: str) -> tuple[bool, bool]:
    """(the user's profile is in Firestore, the event's row is in BigQuery)"""
    with patched_environ(info["environment"]):
        profile = ProfileRepository(FirestoreDocumentStore(PROJECT)).find(("user_id", user))
        warehouse = BigQueryWarehouse(PROJECT, "EU", info["environment"]["CDP_BIGQUERY_ENDPOINT"])
        rows = warehouse.query(
            "SELECT message_id FROM `cdp_raw.events` WHERE message_id = @m", {"m": message_id}
        )
    return profile is not None, len(rows) == 1


def test_keep_data_keeps_bigquery_and_firestore_and_a_clean_start_keeps_neither(
    tmp_path: Path, capsys: Any
) -> None:
    first, last = f"u-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    stack, info = started(tmp_path, keep_data=True)
    try:
        settled = identify(info, first)
        assert eventually(lambda: stored(info, first, settled) == (True, True), timeout=60)
        in_flight = identify(info, last)  # stopped at once: the stop lets it drain
    finally:
        stack.stop()
    out = capsys.readouterr().out
    assert "waiting for in-flight pushes to drain" in out and "kept BigQuery and Firestore" in out
    assert (tmp_path / "firestore" / "firestore" / "firestore.overall_export_metadata").is_file()

    stack, info = started(tmp_path, keep_data=True)
    try:
        assert stored(info, first, settled) == (True, True)
        assert stored(info, last, in_flight) == (True, True)
    finally:
        stack.stop()

    ports = StackPorts.free().emulators  # a clean start: the emulators are enough to look
    emulators = start_emulators(ports, PROJECT, tmp_path)
    try:
        env = ports.environment(PROJECT)
        with patched_environ(env):
            create_warehouse(
                Settings(project_id=PROJECT, bigquery_endpoint=env["CDP_BIGQUERY_ENDPOINT"])
            )
        assert stored({"environment": env}, first, settled) == (False, False)
    finally:
        for process in emulators:
            process.stop()
