"""The whole local stack, as `cdp dev` starts it: it matches the one topology, and an event
POSTed to ingest is published, pushed to the consumers and lands in Firestore and BigQuery, and
at the webhook stand-in."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.cloud import pubsub_v1

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.identity.profiles import ProfileRepository
from shared.local.stack_config import LOCAL_SETTINGS
from shared.settings import DestinationRetry
from shared.topology import TOPOLOGY
from tests.e2e.conftest import eventually, post


def test_the_running_stack_is_exactly_the_declared_topology(stack_env: dict[str, Any]) -> None:
    project = stack_env["project_id"]
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topics = {
        t.name.rsplit("/", 1)[1] for t in publisher.list_topics(project=f"projects/{project}")
    }
    assert topics == set(TOPOLOGY.all_topic_names())
    running = {
        s.name.rsplit("/", 1)[1]: s
        for s in subscriber.list_subscriptions(project=f"projects/{project}")
    }
    # Destinations retry for minutes locally (LOCAL_SETTINGS), hours in the cloud.
    retry = DestinationRetry.model_validate_json(LOCAL_SETTINGS["CDP_DESTINATION_RETRY"])
    for declared in TOPOLOGY.with_destination_retry(retry.attempts, retry.policy()).subscriptions:
        actual = running.pop(declared.name)
        assert actual.topic.endswith(f"/topics/{declared.topic}")
        assert actual.push_config.push_endpoint == stack_env["functions"][declared.function]["url"]
        assert actual.dead_letter_policy.dead_letter_topic.endswith(
            f"/topics/{declared.dead_letter_topic}"
        )
        assert actual.dead_letter_policy.max_delivery_attempts == declared.max_delivery_attempts
        assert actual.ack_deadline_seconds == declared.ack_deadline_seconds
    for name, topic in TOPOLOGY.dead_letter_subscriptions():
        actual = running.pop(name)
        assert actual.topic.endswith(f"/topics/{topic}") and not actual.push_config.push_endpoint
    assert running == {}  # nothing undeclared
    assert set(stack_env["functions"]) == {f.name for f in TOPOLOGY.functions}


def test_an_event_reaches_firestore_bigquery_and_the_webhook(stack_env: dict[str, Any]) -> None:
    user, anonymous, message_id = f"u-{uuid.uuid4()}", f"a-{uuid.uuid4()}", f"m-{uuid.uuid4()}"
    status, body = post(
        stack_env["ingest_url"] + "/v1/identify",
        {
            "userId": user,
            "anonymousId": anonymous,
            "messageId": message_id,
            "traits": {"plan": "pro"},
        },
        stack_env["write_keys"]["web"],
    )
    assert (status, body) == (200, {"success": True})

    profiles = ProfileRepository(FirestoreDocumentStore(stack_env["project_id"]))
    profile = eventually(lambda: profiles.find(("user_id", user)))
    assert profile["identifiers"] == {"anonymous_id": [anonymous], "user_id": [user]}
    assert profile["traits"]["plan"]["value"] == "pro"

    warehouse = BigQueryWarehouse(
        stack_env["project_id"], "EU", stack_env["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    rows = eventually(  # a bound, not a latency target: earlier tests' traffic may be loading
        lambda: [r for r in warehouse.list_rows("cdp_raw.events") if r["message_id"] == message_id],
        timeout=120,
        every=1.0,
    )
    assert len(rows) == 1 and rows[0]["user_id"] == user and rows[0]["source_id"] == "web"
    assert rows[0]["payload"]["traits"] == {"plan": "pro"}  # JSON column, parsed by the client

    def at_webhook() -> list[dict[str, Any]]:  # the stand-in `cdp dev` starts, signed and valid
        with urllib.request.urlopen(stack_env["webhook_url"], timeout=10) as answer:
            got = json.loads(answer.read())["accepted"]
        return [e for body in got for e in body["batch"] if e["messageId"] == message_id]

    assert eventually(at_webhook)[0]["traits"] == {"plan": "pro"}


def test_an_invalid_event_is_kept_in_the_failed_events_store(stack_env: dict[str, Any]) -> None:
    from shared.cli import main

    marker = f"lost-{uuid.uuid4()}"
    status, _ = post(
        stack_env["ingest_url"] + "/v1/track",
        {"event": marker, "properties": {"x": 1}},  # neither userId nor anonymousId
        stack_env["write_keys"]["web"],
    )
    assert status == 200
    stack_file = Path(stack_env["state_dir"]) / "stack.json"
    warehouse = BigQueryWarehouse(
        stack_env["project_id"], "EU", stack_env["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    eventually(
        lambda: [
            r
            for r in warehouse.list_rows("cdp_ops.failed_events")
            if marker in (r["payload"] or "")
        ]
    )

    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["failed-events", "list", "--json", "--stack", str(stack_file)]) == 0
    [row] = [r for r in json.loads(out.getvalue()) if marker in (r["payload"] or "")]
    assert row["stage"] == "ingest" and "neither userId nor anonymousId" in row["reason"]
    assert json.loads(row["payload"])["event"] == marker


def quiet(count: Callable[[], int], polls: int = 4, every: float = 2.0) -> int:
    """``count()`` once it has not changed for ``polls`` polls in a row (bounded)."""
    seen: list[int] = []

    def settled() -> tuple[int] | None:  # a tuple: a count of 0 is an answer too
        seen.append(count())
        still = len(seen) >= polls and len(set(seen[-polls:])) == 1
        return (seen[-1],) if still else None

    return eventually(settled, timeout=180, every=every)[0]


def test_demo_traffic_through_the_sdk_lands_once_each(stack_env: dict[str, Any]) -> None:
    from shared.local.demo import run_demo

    warehouse = BigQueryWarehouse(
        stack_env["project_id"], "EU", stack_env["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )

    def rows() -> list[dict[str, Any]]:  # engaged events, and cold ones in their archive
        tables = ("cdp_raw.events", "cdp_raw.cold_archive")
        return [r for t in tables for r in warehouse.list_rows(t, max_results=100_000)]

    before = quiet(lambda: len(rows()))  # earlier tests' events loaded: only the demo's count
    report = run_demo(stack_env, visitors=9, seed=11)
    assert report.errors == [] and report.total > 0
    eventually(lambda: len(rows()) - before >= report.total, timeout=60)
    landed = rows()
    assert len(landed) - before == report.total
    assert len({r["message_id"] for r in landed}) == len(landed)
