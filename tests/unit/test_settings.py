"""Settings come from one typed place; building the services connects to nothing."""

from __future__ import annotations

import json

import pytest

from shared.bootstrap import bootstrap
from shared.ingest.sources import hash_key
from shared.settings import Settings


def test_sources_and_names_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    source = {"id": "web", "name": "Web", "kind": "web", "write_key_sha256": hash_key("k")}
    monkeypatch.setenv("CDP_SOURCES", json.dumps([source]))
    monkeypatch.setenv("CDP_PROJECT_ID", "acme-prod")
    monkeypatch.setenv("CDP_DATASET_PREFIX", "acme")
    settings = Settings()
    assert settings.project_id == "acme-prod" and settings.dataset("raw") == "acme_raw"
    assert settings.sources[0].write_key_sha256 == hash_key("k") and settings.sources[0].enabled


def test_local_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CDP_SOURCES", "CDP_PROJECT_ID", "CDP_DATASET_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.project_id == "cdp-local" and settings.sources == []
    assert settings.max_event_bytes == 32 * 1024 and settings.max_batch_bytes == 500 * 1024


def test_building_real_services_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every backend points at a closed port: construction must still succeed instantly.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    services = bootstrap(Settings(bigquery_endpoint="http://127.0.0.1:1"))
    assert services.ingest is not None and services.loader is not None


def test_a_tables_full_name() -> None:
    settings = Settings(project_id="acme-prod", dataset_prefix="cdp")
    assert settings.table("raw", "cold_archive") == "acme-prod.cdp_raw.cold_archive"
