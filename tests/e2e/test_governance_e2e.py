"""Governance on the whole local stack, driven by the real Python SDK as a backend would: an
event the plan does not know flows on and is counted once in `cdp plan violations` (however
often the SDK resends it); a card number in free text is masked before anything stores it; a
national id in a trait blocks the identify, which waits in the failed events with its finding
named and without the number."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from tests.e2e.conftest import eventually
from tests.e2e.test_demo_destinations import cli

CARD = "4111 1111 1111 1111"
SSN = "536-22-8710"  # dashed, in a valid area: a national id wherever it appears


def warehouse_of(stack: dict[str, Any]) -> BigQueryWarehouse:
    endpoint = stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    return BigQueryWarehouse(stack["project_id"], "EU", endpoint)


@pytest.fixture(scope="module")
def sent(stack: dict[str, Any]) -> dict[str, Any]:
    """One unplanned track (sent three times with one messageId) and one identify with an SSN."""
    from segment.analytics import Client

    tag = uuid.uuid4().hex[:8]
    user, name = f"gov-{tag}", f"e2e_unplanned_{tag}"
    errors: list[str] = []
    for _ in range(3):  # an SDK resending the same call: one event
        client = Client(
            write_key=stack["write_keys"]["backend"],
            host=stack["ingest_url"],
            on_error=lambda error, _batch: errors.append(str(error)),
        )
        client.track(
            user,
            name,
            {"platform": "server", "note": f"paid with {CARD} thanks"},
            message_id=f"{tag}-track",
        )
        client.flush()
        client.shutdown()
    client = Client(write_key=stack["write_keys"]["backend"], host=stack["ingest_url"])
    client.identify(user, {"email": f"{tag}@example.com", "ssn": SSN}, message_id=f"{tag}-id")
    client.flush()
    client.shutdown()
    assert errors == []
    return {"tag": tag, "user": user, "name": name}


def test_an_unplanned_event_flows_on_masked_and_is_counted_once(
    stack: dict[str, Any], sent: dict[str, Any]
) -> None:
    bigquery = warehouse_of(stack)
    project = stack["project_id"]

    def stored() -> list[dict[str, Any]] | None:
        rows = bigquery.query(
            f"SELECT TO_JSON_STRING(payload) AS p FROM `{project}.cdp_raw.events` "
            f"WHERE message_id = '{sent['tag']}-track'"
        )
        return rows or None

    [row] = eventually(stored, timeout=60)
    payload = json.loads(row["p"])
    if isinstance(payload, str):
        payload = json.loads(payload)
    assert CARD not in row["p"] and CARD.replace(" ", "") not in row["p"]
    assert payload["properties"]["note"] == "paid with ****1111 thanks"
    assert "findings" not in payload  # findings travel beside the event, never in it

    def counted() -> list[dict[str, Any]] | None:
        rows = cli(stack, "plan", "violations", "--since", "2000-01-01T00:00:00Z")
        mine = [r for r in rows if r["event"] == sent["name"]]
        return mine or None

    [violation] = eventually(counted, timeout=60)
    assert (violation["kind"], violation["count"], violation["source_id"]) == (
        "unplanned_event",
        1,
        "backend",
    )


def test_a_national_id_blocks_the_identify_and_never_lands(
    stack: dict[str, Any], sent: dict[str, Any]
) -> None:
    def failed() -> list[dict[str, Any]] | None:
        rows = cli(stack, "failed-events", "list", "--limit", "100000")
        mine = [r for r in rows if r.get("message_id") == f"{sent['tag']}-id"]
        return mine or None

    [failure] = eventually(failed, timeout=60)
    assert SSN not in json.dumps(failure, default=str)
    found = [(f["kind"], f["property"], f["mode"]) for f in json.loads(failure["findings"])]
    assert found == [  # every finding named: the blocking one, and the plan's flagged trait
        ("pii_national_id", "traits.ssn", "block"),
        ("unplanned_property", "ssn", "flag"),
    ]
    bigquery = warehouse_of(stack)
    project = stack["project_id"]
    for table in ("cdp_raw.events", "cdp_processed.identifies"):
        rows = bigquery.query(
            f"SELECT COUNT(*) AS n FROM `{project}.{table}` WHERE message_id = '{sent['tag']}-id'"
        )
        assert rows == [{"n": 0}], table
