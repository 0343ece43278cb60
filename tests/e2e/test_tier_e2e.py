"""Engagement tiers on the whole local stack, with stand-ins in place of GA4 and of a customer's
webhook (which opts in to back-fills).

A cold visitor's page views reach GA4 and the cold archive, never the ``events`` topic nor the
webhook; the visitor signs up; from then on its events take the full pipeline (the webhook gets
them, after a retry), its first cold visit is its first-touch attribution, a warehouse query
joins its cold page views to the person, and the promotion sweep back-fills them to the webhook
once. On the demo traffic, the MTU report shows the share kept out of the full pipeline.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.destinations.backfill import BACKFILLED
from shared.identity.profiles import ProfileRepository
from shared.local import webhook_standin
from shared.local.demo import run_demo
from shared.local.ga4_standin import GA4StandIn, function_environment
from shared.local.processes import patched_environ
from shared.local.scheduler import trigger
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts
from shared.local.webhook_standin import WebhookStandIn
from shared.settings import Settings, get_settings
from shared.tiering.attribution import ATTRIBUTION
from shared.tiering.ga4 import BACKDATE_WINDOW
from shared.tiering.history import cold_history
from shared.tiering.state import PROMOTIONS, doc_id
from tests.e2e.conftest import eventually, post

pytestmark = pytest.mark.e2e
TIER_ENV = {"CDP_TIER_NEGATIVE_CACHE_SECONDS": "2"}


@pytest.fixture(scope="module")
def ga4() -> Iterator[GA4StandIn]:
    standin = GA4StandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookStandIn]:
    standin = WebhookStandIn()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def tier_stack(
    ga4: GA4StandIn, webhook: WebhookStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A stack of its own whose functions see the stand-ins' addresses."""
    config = StackConfig(
        ports=StackPorts.free(),
        state_dir=tmp_path_factory.mktemp("tier-stack"),
        project_id="cdp-tiers",
        run_schedules=False,
    )
    local = LocalStack(config)
    try:
        webhook_env = webhook_standin.function_environment(webhook.url, webhook.secret)
        with patched_environ({**TIER_ENV, **function_environment(ga4.url), **webhook_env}):
            info = local.start()
        with patched_environ(info["environment"]):
            yield info
    finally:
        local.stop()


def warehouse(stack: dict[str, Any]) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        stack["project_id"], "EU", stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )


def rows(stack: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return warehouse(stack).list_rows(f"cdp_raw.{table}", max_results=100_000)


def assigned(stack: dict[str, Any]) -> set[str]:
    """Anonymous ids whose identity assignment reached the warehouse (what the sweep reads)."""
    found = warehouse(stack).list_rows("cdp_processed.identity_assignments", max_results=100_000)
    return {r["identifier_value"] for r in found if r["identifier_type"] == "anonymous_id"}


def mtu_figures(stack: dict[str, Any]) -> dict[str, Any]:
    """``cdp mtu-report --json`` against this stack (settings are read once per process, so the
    cached ones of another stack are dropped first)."""
    from shared.cli import main

    get_settings.cache_clear()
    out = io.StringIO()
    stack_file = str(Path(stack["state_dir"]) / "stack.json")
    try:
        with contextlib.redirect_stdout(out):
            assert main(["mtu-report", "--json", "--stack", stack_file]) == 0
    finally:
        get_settings.cache_clear()
    figures: dict[str, Any] = json.loads(out.getvalue())
    return figures


@pytest.mark.timeout(600)  # the stack's start, up to 240 s for the demo to land, then the tiers
def test_demo_traffic_mtu_report(
    tier_stack: dict[str, Any], ga4: GA4StandIn, webhook: WebhookStandIn
) -> None:
    before = mtu_figures(tier_stack)
    cold_before, ga4_before = len(rows(tier_stack, "cold_archive")), len(ga4.events())
    landed_before = len(rows(tier_stack, "events")) + cold_before
    report = run_demo(tier_stack, visitors=40, seed=7)
    assert report.errors == []
    eventually(
        lambda: (
            len(rows(tier_stack, "events")) + len(rows(tier_stack, "cold_archive"))
            >= landed_before + report.total
        ),
        timeout=240,
    )
    archive = rows(tier_stack, "cold_archive")
    cold = len(archive) - cold_before
    now = datetime.now(UTC)  # GA4 takes what is within its backdating window; all is archived
    for_ga4 = len([r for r in archive if now - r["timestamp"] <= BACKDATE_WINDOW]) - cold_before
    eventually(lambda: len(ga4.events()) - ga4_before >= for_ga4, timeout=60)
    assert ga4.rejected == [] and len(ga4.events()) - ga4_before == for_ga4 > 0
    # every promoted id with a cold journey gets it back-filled, once its profile exists
    entered = {r["anonymous_id"] for r in rows(tier_stack, "events") if r["anonymous_id"]}
    journeys = {r["anonymous_id"] for r in archive if r["anonymous_id"] in entered}
    eventually(lambda: entered <= assigned(tier_stack), timeout=120)  # what the sweep reads
    swept = trigger(tier_stack["functions"]["jobs"]["url"], "tier-promotion-sweep")
    backfilled = {b["backfill"]["anonymousId"] for b in webhook.backfills()}
    eventually(lambda: journeys <= {b["backfill"]["anonymousId"] for b in webhook.backfills()},
               timeout=120)  # fmt: skip
    print(f"back-fills: {len(journeys)} promoted ids with a cold journey; sweep: {swept}")
    assert journeys and swept["backfilled_ids"] >= len(journeys - backfilled)
    after = mtu_figures(tier_stack)
    print("\nMTU report after the demo traffic:", json.dumps(after))
    seen, mtus = after["ids_seen"] - before["ids_seen"], after["mtus"] - before["mtus"]
    print(f"demo alone: {mtus} MTUs of {seen} ids seen ({mtus / seen:.1%})")
    assert seen == report.anonymous_visitors == 40
    assert mtus == report.users and mtus / seen <= 0.35
    assert after["promoted_ids"] == after["promoted_with_first_touch"] > 0  # 100 %
    assert after["cold_operations"]["cold_events"] - before["cold_operations"]["cold_events"] == (
        cold
    )


def test_a_cold_visitor_signs_up_and_keeps_its_history(
    tier_stack: dict[str, Any], ga4: GA4StandIn, webhook: WebhookStandIn
) -> None:
    visitor, user = f"v-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    cold_ids = [f"{visitor}-p0", f"{visitor}-p1"]
    url, key = tier_stack["ingest_url"], tier_stack["write_keys"]["web"]
    probe = _probe_events_topic(tier_stack)
    landing = "https://app.example.com/?utm_source=newsletter&utm_campaign=nov_launch"
    context = {"page": {"referrer": "https://news.example.org/"}}
    for n, page_url in enumerate([landing, "https://app.example.com/pricing"]):
        body = {"anonymousId": visitor, "name": f"p{n}", "properties": {"url": page_url},
                "context": context, "messageId": f"{visitor}-p{n}"}  # fmt: skip
        assert post(url + "/v1/page", body, key) == (200, {"success": True})

    def to_ga4() -> list[dict[str, Any]]:
        return [e for e in ga4.events() if e["client_id"] == visitor]

    def archived() -> list[dict[str, Any]]:
        return [r for r in rows(tier_stack, "cold_archive") if r["anonymous_id"] == visitor]

    eventually(lambda: len(to_ga4()) == 2)
    assert {e["name"] for e in to_ga4()} == {"page_view"} and ga4.rejected == []
    eventually(lambda: len(archived()) == 2)
    assert sorted(r["message_id"] for r in archived()) == cold_ids
    assert visitor not in json.dumps(probe.drain())  # nothing of it on the events topic
    assert visitor not in json.dumps(webhook.listing())  # so nothing of it to the webhook

    def to_webhook() -> dict[str, dict[str, Any]]:  # live events, by messageId (redeliveries)
        return {e["messageId"]: e for e in webhook.events() if e.get("anonymousId") == visitor}

    webhook.fail_next(1, status=503, matching=visitor)  # its first delivery fails: a retry
    identify = {"anonymousId": visitor, "userId": user, "traits": {"email": "v@example.com"},
                "messageId": f"{visitor}-i"}  # fmt: skip
    assert post(url + "/v1/identify", identify, key)[0] == 200
    track = {"anonymousId": visitor, "event": "Viewed Rates", "messageId": f"{visitor}-t"}
    assert post(url + "/v1/track", track, key)[0] == 200  # anonymous, not an engagement event
    engaged: list[dict[str, Any]] = []

    def collected() -> bool:
        engaged.extend(e for e in probe.drain() if e.get("anonymousId") == visitor)
        return len(engaged) >= 2

    eventually(collected)
    assert sorted(e["type"] for e in engaged) == ["identify", "track"]
    assert len(to_ga4()) == 2  # nothing more went to GA4
    # Pub/Sub redelivers the refused message after its retry backoff
    eventually(lambda: set(to_webhook()) == {f"{visitor}-i", f"{visitor}-t"}, timeout=180)
    assert sorted(e["type"] for e in to_webhook().values()) == ["identify", "track"]
    assert [visitor in json.dumps(b) for b in webhook.failed_on_purpose] == [True]

    eventually(lambda: [r for r in rows(tier_stack, "events") if r["anonymous_id"] == visitor
                        and r["type"] == "identify"])  # fmt: skip
    store = FirestoreDocumentStore(tier_stack["project_id"])
    # identity may need a Pub/Sub redelivery (its transactions contend on the emulator when the
    # identify and the track of one person arrive together): allow for the retry backoff. The
    # back-fill waits for the profile too (its consent governs the journey).
    eventually(lambda: ProfileRepository(store).find(("user_id", user)), timeout=120)
    eventually(lambda: visitor in assigned(tier_stack), timeout=120)  # what the sweep reads
    jobs = tier_stack["functions"]["jobs"]["url"]
    swept = trigger(jobs, "tier-promotion-sweep")
    assert isinstance(swept["backfilled_ids"], int) and swept["backfilled_ids"] >= 1
    promotion = store.get(PROMOTIONS, doc_id(visitor))
    assert promotion is not None and promotion["reason"] == "identified"
    touch = store.get(ATTRIBUTION, doc_id(visitor))
    assert touch is not None
    assert (touch["utm_source"], touch["utm_campaign"]) == ("newsletter", "nov_launch")
    assert touch["landing_page"] == landing and touch["referrer"] == "https://news.example.org/"
    assert touch["first_message_id"] == f"{visitor}-p0" and touch["user_id"] == user
    profile = eventually(lambda: ProfileRepository(store).find(("user_id", user)))
    assert visitor in profile["identifiers"]["anonymous_id"]  # the profile → its attribution

    settings = Settings(project_id=tier_stack["project_id"])
    # through the identity map, which the identity changes reach by their own subscription
    history = eventually(lambda: cold_history(settings, warehouse(tier_stack), user), timeout=120)
    assert [r["message_id"] for r in history] == cold_ids

    def backfilled() -> list[dict[str, Any]]:  # one per published message, not per delivery
        return list({b["delivery"]["message"]: b for b in webhook.backfills(visitor)}.values())

    [backfill] = eventually(backfilled, timeout=120)
    assert backfill["backfill"] == {"anonymousId": visitor, "userId": user}
    assert [e["messageId"] for e in backfill["batch"]] == cold_ids  # its cold page views
    assert {e["type"] for e in backfill["batch"]} == {"page"}
    record = store.get(BACKFILLED, doc_id(visitor))
    assert record is not None and (record["user_id"], record["events"]) == (user, 2)
    assert trigger(jobs, "tier-promotion-sweep")["backfilled_ids"] == 0  # published nothing
    assert len(backfilled()) == 1 and set(to_webhook()) == {f"{visitor}-i", f"{visitor}-t"}
    assert webhook.rejected == []


class _Probe:
    def __init__(self, project: str) -> None:
        self._subscriber = pubsub_v1.SubscriberClient()
        self._name = self._subscriber.subscription_path(project, f"probe-{uuid.uuid4().hex[:8]}")
        self._subscriber.create_subscription(
            name=self._name, topic=f"projects/{project}/topics/events"
        )

    def drain(self) -> list[dict[str, Any]]:
        got = self._subscriber.pull(subscription=self._name, max_messages=100, timeout=5)
        if got.received_messages:
            self._subscriber.acknowledge(
                subscription=self._name, ack_ids=[m.ack_id for m in got.received_messages]
            )
        return [e for m in got.received_messages for e in json.loads(m.message.data)["events"]]


def _probe_events_topic(stack: dict[str, Any]) -> _Probe:
    return _Probe(stack["project_id"])
