"""Shared by the identity unit tests: the seeds' journey and a view of the clusters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.identity.graph import PROFILES
from shared.ports.documents import InMemoryDocumentStore

JOURNEY = Path(__file__).with_name("journey.json")
USER = ("user_id", "97980cfea0067")


def journey() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(JOURNEY.read_text())
    return events


def clusters(store: InMemoryDocumentStore) -> set[frozenset[str]]:
    """Each root profile as the set of its identifier keys."""
    return {
        frozenset(f"{k}:{v}" for k, values in doc["identifiers"].items() for v in values)
        for _, doc in store.documents(PROFILES)
        if not doc.get("merged_into")
    }
