"""The PII corpus through the whole local stack: cards of every major network (with spaces and
dashes), IBANs of several countries, SSNs, NIKs, NPWPs, PANs, Aadhaars and account numbers, in
properties, nested objects, arrays, traits, context, free text, externalIds, userIds and a
batch's context; sent once by the backend (the engaged path: Firestore, BigQuery, every
destination) and once by the web source as anonymous traffic (the cold path: the archive and
GA4). Afterwards no store, log or stand-in holds any of those numbers, as written or compact.
Look-alikes (order ids, timestamps, phone numbers, amounts...) arrive unchanged."""

from __future__ import annotations

import copy
import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.local.processes import patched_environ
from shared.local.standins import PROVIDERS
from tests.e2e.conftest import eventually, post
from tests.pii_corpus import lookalike_corpus, pii_corpus

TABLES = (
    "cdp_raw.events",
    "cdp_raw.cold_archive",
    "cdp_processed.tracks",
    "cdp_processed.identifies",
    "cdp_ops.failed_events",
    "cdp_ops.violation_events",
)


def renamed(event: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**copy.deepcopy(event), "messageId": f"{tag}-{event['messageId']}"}


def batches_of(events: list[dict[str, Any]], size: int = 50) -> list[dict[str, Any]]:
    return [{"batch": events[i : i + size]} for i in range(0, len(events), size)]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


@pytest.fixture(scope="module")
def sent(stack: dict[str, Any]) -> dict[str, Any]:
    corpus, alikes = pii_corpus(seed=29, rounds=1), lookalike_corpus(seed=29, per_kind=8)
    tag = uuid.uuid4().hex[:8]
    since = time.time()
    bodies: list[tuple[str, dict[str, Any]]] = []
    for key, prefix in (("backend", f"{tag}-b"), ("web", f"{tag}-w")):
        events = [renamed(e, prefix) for e in corpus.events]
        bodies += [(key, b) for b in batches_of(events)]
        for batch in corpus.batches:
            body = {**copy.deepcopy(batch), "batch": [renamed(e, prefix) for e in batch["batch"]]}
            bodies.append((key, body))
    alike_events = [renamed(e, f"{tag}-l") for e in alikes.events]
    bodies += [("backend", b) for b in batches_of(alike_events)]
    for key, body in bodies:
        status, answer = post(f"{stack['ingest_url']}/v1/batch", body, stack["write_keys"][key])
        assert status == 200, answer
    ids = {e["messageId"] for _, body in bodies for e in body["batch"]}
    return {"tag": tag, "ids": ids, "since": since, "corpus": corpus, "alikes": alike_events}


def dump_bigquery(stack: dict[str, Any], tag: str) -> tuple[str, set[str]]:
    """Every row of the tables that may hold the corpus (as JSON text), and the messageIds seen
    in the raw, cold and failed tables (to know everything sent has landed)."""
    bigquery = BigQueryWarehouse(
        stack["project_id"], "EU", stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    texts, seen = [], set()
    for table in TABLES:
        rows = bigquery.query(
            f"SELECT TO_JSON_STRING(t) AS j, message_id FROM `{stack['project_id']}.{table}` t "
            f"WHERE STARTS_WITH(message_id, '{tag}')"
        )
        texts += [str(r["j"]) for r in rows]
        if table in ("cdp_raw.events", "cdp_raw.cold_archive", "cdp_ops.failed_events"):
            seen |= {str(r["message_id"]) for r in rows}
    return "\n".join(texts), seen


def dump_firestore(stack: dict[str, Any]) -> str:
    from google.cloud import firestore

    with patched_environ(stack["environment"]):
        client = firestore.Client(project=stack["project_id"])
        docs = [d.to_dict() for c in client.collections() for d in c.stream()]
    return json.dumps(docs, default=str)


def dump_standins(stack: dict[str, Any]) -> str:
    found = [get(f"{stack['standins'][name]}/_standin") for name in PROVIDERS]
    found += [get(stack["webhook_url"]), get(stack["ga4_url"])]
    return json.dumps(found, default=str)


def dump_logs(stack: dict[str, Any]) -> str:
    logs = Path(stack["state_dir"]) / "logs"
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))


def test_no_store_log_or_stand_in_holds_a_detected_number(
    stack: dict[str, Any], sent: dict[str, Any]
) -> None:
    def landed() -> str | None:
        text, seen = dump_bigquery(stack, sent["tag"])
        return text if seen >= sent["ids"] else None

    warehouse = eventually(landed, timeout=180, every=2.0)
    time.sleep(3)  # the destinations' last deliveries of what just landed
    places = {
        "bigquery": warehouse,
        "firestore": dump_firestore(stack),
        "stand-ins": dump_standins(stack),
        "logs": dump_logs(stack),
    }
    values = sent["corpus"].raw_values
    leaks = {where: [v for v in values if v in text] for where, text in places.items()}
    assert leaks == {where: [] for where in places}, leaks
    assert "****" in warehouse  # redacted, not just dropped


def test_look_alikes_arrive_unchanged(stack: dict[str, Any], sent: dict[str, Any]) -> None:
    bigquery = BigQueryWarehouse(
        stack["project_id"], "EU", stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    rows = bigquery.query(
        "SELECT message_id, TO_JSON_STRING(payload) AS p "
        f"FROM `{stack['project_id']}.cdp_raw.events` "
        f"WHERE STARTS_WITH(message_id, '{sent['tag']}-l')"
    )
    stored = {}
    for row in rows:
        payload = json.loads(row["p"])
        stored[row["message_id"]] = json.loads(payload) if isinstance(payload, str) else payload
    assert set(stored) == {e["messageId"] for e in sent["alikes"]}
    for event in sent["alikes"]:
        kept = stored[event["messageId"]]
        assert kept["properties"] == event["properties"], event["messageId"]
        sent_context = {k: v for k, v in event["context"].items() if k != "library"}
        assert {k: kept["context"][k] for k in sent_context} == sent_context
