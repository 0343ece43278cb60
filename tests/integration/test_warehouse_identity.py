"""The identity map on the BigQuery emulator: identity changes, fed to the warehouse-loader
function as Pub/Sub pushes, give every event (cold ones too) its person, after a merge and again
after an unmerge, with validity in time."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.bootstrap import Services, bootstrap
from shared.envelope import encode
from shared.identity.changes import Assignment, IdentityChange, encode_changes
from shared.ports.publisher import InMemoryPublisher, OutboundMessage
from shared.settings import Settings
from shared.topology import COLD_EVENTS, EVENTS
from shared.warehouse.layers import (
    CURATED,
    EVENT_PROFILES_VIEW,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
)
from tests.conftest import PROJECT
from tests.fakes import client, installed
from tests.integration.test_warehouse_loader import needed

# What the loader writes for a cold page, a track and identity changes, and the views read.
USED = (
    RAW,
    f"{PROCESSED}.tracks",
    f"{PROCESSED}.{IDENTITY_ASSIGNMENTS_TABLE}",
    f"{CURATED}.{IDENTITY_MAP_VIEW}",
    f"{CURATED}.{EVENT_PROFILES_VIEW}",
)


@pytest.fixture
def services(bigquery: BigQueryWarehouse, unique: str) -> Iterator[Services]:
    settings = Settings(project_id=PROJECT, dataset_prefix=f"id_{unique}", bigquery_endpoint="-")
    bigquery.ensure(needed(settings, *USED))
    built = bootstrap(settings, warehouse=bigquery, sql=bigquery, publisher=InMemoryPublisher())
    with installed(built):
        yield built


def deliver(message: OutboundMessage) -> None:
    """Push ``message`` to the warehouse-loader function, as its subscription would."""
    body = {
        "subscription": "projects/p/subscriptions/s",
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": message.attributes,
            "messageId": "1",
            "publishTime": "2026-11-20T00:00:00Z",
        },
    }
    assert client("warehouse-loader").post("/", json=body).status_code == 200


def change(
    change_id: str, kind: str, at: str, profile: str, *ids: tuple[str, str], absorbed: str = ""
) -> IdentityChange:
    return IdentityChange(
        change_id=change_id,
        change=kind,
        at=at,
        assignments=tuple(Assignment(t, v, profile) for t, v in ids),
        profile_id=profile,
        absorbed_profile_id=absorbed or None,
    )


def profiles(bigquery: BigQueryWarehouse, prefix: str) -> dict[str, Any]:
    rows = bigquery.query(
        f"SELECT message_id, tier, profile_id FROM `{prefix}_curated.event_profiles`"
    )
    return {r["message_id"]: (r["tier"], r["profile_id"]) for r in rows}


def test_events_join_to_their_person_after_a_merge_and_an_unmerge(
    services: Services, bigquery: BigQueryWarehouse, unique: str
) -> None:
    prefix = f"id_{unique}"
    user, phone_anon, web_anon = f"{unique}-user", f"{unique}-phone", f"{unique}-web"
    cold_page = {
        "type": "page",
        "anonymousId": web_anon,
        "messageId": f"{unique}-cold",
        "timestamp": "2026-11-01T09:00:00Z",
        "properties": {"path": "/pricing"},
    }
    signup = {
        "type": "track",
        "event": "account_created",
        "userId": user,
        "anonymousId": phone_anon,
        "messageId": f"{unique}-signup",
        "timestamp": "2026-11-02T09:00:00Z",
    }
    deliver(encode(COLD_EVENTS, "cold", [cold_page]))
    deliver(encode(EVENTS, "events", [signup]))
    deliver(
        encode_changes(
            [
                change(
                    "c1", "created", "2026-11-01T09:00:00Z", "p-web", ("anonymous_id", web_anon)
                ),
                change(
                    "c2",
                    "created",
                    "2026-11-02T09:00:00Z",
                    "p-user",
                    ("user_id", user),
                    ("anonymous_id", phone_anon),
                ),
            ]
        )
    )
    assert profiles(bigquery, prefix) == {
        f"{unique}-cold": ("cold", "p-web"),
        f"{unique}-signup": ("engaged", "p-user"),
    }

    merge = change(
        "c3",
        "merged",
        "2026-11-03T09:00:00Z",
        "p-user",
        ("anonymous_id", web_anon),
        absorbed="p-web",
    )
    for _ in range(2):  # a redelivery changes nothing
        deliver(encode_changes([merge]))
    assert profiles(bigquery, prefix)[f"{unique}-cold"] == ("cold", "p-user")

    unmerge = change("c4", "unmerged", "2026-11-04T09:00:00Z", "p-web2", ("anonymous_id", web_anon))
    deliver(encode_changes([unmerge]))
    assert profiles(bigquery, prefix) == {
        f"{unique}-cold": ("cold", "p-web2"),
        f"{unique}-signup": ("engaged", "p-user"),
    }

    history = bigquery.query(
        f"SELECT profile_id, valid_from, valid_to FROM `{prefix}_curated.identity_map`"
        " WHERE identifier_value = @value ORDER BY valid_from",
        {"value": web_anon},
    )
    assert [r["profile_id"] for r in history] == ["p-web", "p-user", "p-web2"]
    assert [r["valid_to"] for r in history[:-1]] == [r["valid_from"] for r in history[1:]]
    assert history[-1]["valid_to"] is None
    as_of_merge = bigquery.query(
        f"SELECT profile_id FROM `{prefix}_curated.identity_map` WHERE identifier_value = @value"
        " AND valid_from <= TIMESTAMP '2026-11-03 12:00:00+00'"
        " AND (valid_to IS NULL OR valid_to > TIMESTAMP '2026-11-03 12:00:00+00')",
        {"value": web_anon},
    )
    assert as_of_merge == [{"profile_id": "p-user"}]


def test_changes_at_the_same_event_time_keep_the_order_identity_decided_them(
    services: Services, bigquery: BigQueryWarehouse, unique: str
) -> None:
    """An SDK sends a page and the alias of a sign-up in the same millisecond: the page creates
    the anonymous profile, the alias merges it into the user's. Both changes take effect at the
    same event time and load in one batch; the map follows identity's order of decision, not
    their ids (here ordered the other way)."""
    prefix, anon, at = f"id_{unique}", f"{unique}-anon", "2026-11-01T09:00:00.224Z"
    first = replace(
        change("z-created", "created", at, "p-anon", ("anonymous_id", anon)),
        decided_at="2026-12-02T11:58:01.100000Z",
    )
    merged = replace(
        change("a-merged", "merged", at, "p-user", ("anonymous_id", anon), absorbed="p-anon"),
        decided_at="2026-12-02T11:58:01.100200Z",
    )
    deliver(encode_changes([merged, first]))
    current = bigquery.query(
        f"SELECT profile_id FROM `{prefix}_curated.identity_map`"
        " WHERE identifier_value = @value AND valid_to IS NULL",
        {"value": anon},
    )
    assert current == [{"profile_id": "p-user"}]
