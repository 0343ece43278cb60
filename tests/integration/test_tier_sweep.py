"""The promotion sweep, first-touch attribution, the cold-history join and the MTU report, as
SQL on the BigQuery emulator (rows loaded by the real loader) with promotions in Firestore."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.bootstrap import Services, bootstrap
from shared.envelope import Envelope
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.jobs import run_job
from shared.ports.clock import FakeClock, SystemClock
from shared.ports.publisher import InMemoryPublisher
from shared.settings import Settings
from shared.tiering.attribution import ATTRIBUTION
from shared.tiering.history import cold_history
from shared.tiering.mtu import mtu_report
from shared.tiering.state import PROMOTIONS, Promotion, PromotionState, doc_id
from shared.tiering.sweep import SWEEP, SWEEPS
from shared.topology import BACKFILLS, IDENTITY_CHANGES
from shared.warehouse.layers import (
    CURATED,
    EVENT_PROFILES_VIEW,
    IDENTITY_ASSIGNMENTS_TABLE,
    IDENTITY_MAP_VIEW,
    PROCESSED,
    RAW,
)
from tests.conftest import PROJECT
from tests.integration.test_warehouse_loader import needed

pytestmark = pytest.mark.integration
NOW = SystemClock().now().replace(microsecond=0)
CAMPAIGN = {"name": "spring_savings", "source": "google", "medium": "cpc"}
# Only what the loader, the sweep and the report use (each table or view costs the emulator a
# slow DDL): the raw layer, the processed tables of the call types loaded, the identity map.
USED = (
    RAW,
    *(f"{PROCESSED}.{t}" for t in ("tracks", "identifies", "pages", IDENTITY_ASSIGNMENTS_TABLE)),
    f"{CURATED}.{IDENTITY_MAP_VIEW}",
    f"{CURATED}.{EVENT_PROFILES_VIEW}",
)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def page(anon: str, ago: timedelta, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "page", "anonymousId": anon, "messageId": f"{anon}-p{n}",
        "timestamp": iso(NOW - ago), "receivedAt": iso(NOW - timedelta(seconds=n + 1)),
        "sourceId": "web", "properties": {"url": f"https://app.example.com/{n}"}, **extra,
    }  # fmt: skip


def engaged(
    anon: str | None, user: str | None, kind: str, ago: timedelta, n: int
) -> dict[str, Any]:
    return {
        "type": kind, "event": "account_created" if kind == "track" else None,
        "anonymousId": anon, "userId": user, "messageId": f"{anon or user}-{kind}{n}",
        "timestamp": iso(NOW - ago), "receivedAt": iso(NOW), "sourceId": "web",
    }  # fmt: skip


def load_identity_changes(services: Services) -> None:
    """What identity published, loaded as the warehouse-identity-changes subscription would
    (a change loaded twice is one row: insertId)."""
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    for change in publisher.on(IDENTITY_CHANGES):
        body = json.loads(change.data)
        services.loader.handle(Envelope(change.attributes["kind"], body["events"],
                                        change.attributes, message_id=change.id))  # fmt: skip


@pytest.fixture
def world(bigquery: BigQueryWarehouse, unique: str) -> tuple[Services, dict[str, str]]:
    settings = Settings(project_id=PROJECT, dataset_prefix=f"it_{unique}", bigquery_endpoint="-",
                        tier_sweep_settle_seconds=0)  # fmt: skip
    # Its own datasets for each test: the sweep and the report count every id in them.
    bigquery.ensure(needed(settings, *USED))
    documents = FirestoreDocumentStore(PROJECT)
    services = bootstrap(settings, warehouse=bigquery, sql=bigquery, documents=documents,
                         publisher=InMemoryPublisher(), clock=FakeClock(NOW))  # fmt: skip
    documents.set(SWEEPS, SWEEP, {})  # each test's sweeps start afresh (one emulator for all)
    ids = {k: f"{k}-{unique}" for k in ("A", "B", "C", "D", "E", "F")}
    cold = [
        # A: three sessions in three days → promoted by the threshold
        *(page(ids["A"], timedelta(days=d), d) for d in (3, 2, 1)),
        # B: two page views in one visit; C: three views 20 minutes apart (one session)
        page(ids["B"], timedelta(minutes=60), 10),
        page(ids["B"], timedelta(minutes=55), 11),
        *(page(ids["C"], timedelta(minutes=20 * k), 20 + k) for k in (3, 2, 1)),
        # D: a cold first visit from a campaign, then signs up
        page(
            ids["D"],
            timedelta(hours=5),
            30,
            context={"campaign": CAMPAIGN, "page": {"referrer": "https://www.google.com/"}},
        ),
        page(ids["D"], timedelta(hours=4), 31),
        # F: already promoted, three sessions
        *(page(ids["F"], timedelta(days=d), 40 + d) for d in (3, 2, 1)),
    ]
    for event in cold:  # one message per ingest request, as ingest publishes them
        services.loader.handle(Envelope("cold", [event], {}))
    entering = Envelope("events", [
        engaged(ids["D"], f"user-{unique}", "identify", timedelta(hours=1), 1),
        engaged(ids["D"], None, "page", timedelta(minutes=30), 2),
        engaged(ids["E"], None, "track", timedelta(minutes=10), 3),  # engagement event first
    ], {})  # fmt: skip
    services.loader.handle(entering)  # as the events topic's two subscriptions would
    services.identity.handle(entering)
    load_identity_changes(services)
    PromotionState(documents, FakeClock(NOW)).record(
        [Promotion(ids["F"], "identified", iso(NOW - timedelta(days=1)))]
    )
    return services, {**ids, "user": f"user-{unique}"}


def test_the_sweep_promotes_by_threshold_and_attributes_first_touch_once(
    world: tuple[Services, dict[str, str]],
) -> None:
    services, ids = world
    result = run_job("tier-promotion-sweep", services)
    assert result["promoted"] == 1  # A; F was already promoted; B, C have one session
    assert result["attributed"] == 2  # D and E entered the full pipeline
    store = services.documents
    promotion = store.get(PROMOTIONS, doc_id(ids["A"]))
    assert promotion is not None and promotion["reason"] == "threshold"
    assert store.get(PROMOTIONS, doc_id(ids["B"])) is None
    assert store.get(PROMOTIONS, doc_id(ids["C"])) is None
    d = store.get(ATTRIBUTION, doc_id(ids["D"]))
    assert d is not None
    assert (d["utm_campaign"], d["utm_source"], d["utm_medium"]) == ("spring_savings", "google",
                                                                     "cpc")  # fmt: skip
    assert d["referrer"] == "https://www.google.com/"
    assert d["landing_page"] == "https://app.example.com/30"
    assert d["first_seen"].startswith(iso(NOW - timedelta(hours=5))[:19])
    assert d["user_id"] == ids["user"] and d["first_event_type"] == "page"
    e = store.get(ATTRIBUTION, doc_id(ids["E"]))
    assert e is not None and e["first_event_type"] == "track" and e["utm_campaign"] is None
    again = run_job("tier-promotion-sweep", services)
    assert (again["promoted"], again["attributed"]) == (0, 0)
    # Once a successful sweep is past them (and its overlap), D and E are not looked at again.
    later = replace(services, clock=FakeClock(NOW + timedelta(hours=1)))
    assert run_job("tier-promotion-sweep", later)["entered_recently"] == 2  # the overlap
    later = replace(services, clock=FakeClock(NOW + timedelta(hours=2)))
    assert run_job("tier-promotion-sweep", later)["entered_recently"] == 0


def test_the_sweep_puts_the_first_touch_on_the_persons_profile(
    world: tuple[Services, dict[str, str]],
) -> None:
    services, ids = world  # identity made D's and E's profiles as they entered, no campaign
    result = run_job("tier-promotion-sweep", services)
    assert result["profiles_with_first_touch"] == 2  # D and E
    profile = ProfileRepository(services.documents, services.settings.identity).find(
        Identifier("user_id", ids["user"])
    )
    assert profile is not None
    touch = profile["first_touch"]
    assert touch["campaign"]["name"] == "spring_savings" and touch["source"] == "attribution"
    assert touch["referrer"] == "https://www.google.com/"
    again = run_job("tier-promotion-sweep", services)
    assert again["profiles_with_first_touch"] == 2
    repeat = ProfileRepository(services.documents, services.settings.identity).find(
        Identifier("user_id", ids["user"])
    )
    assert repeat is not None and repeat["first_touch"] == touch  # attaching twice: no change


def test_a_persons_cold_page_views_join_to_them_through_the_identity_map(
    world: tuple[Services, dict[str, str]],
) -> None:
    services, ids = world
    rows = cold_history(services.settings, services.sql, ids["user"])
    assert [r["message_id"] for r in rows] == [f"{ids['D']}-p30", f"{ids['D']}-p31"]
    assert {r["anonymous_id"] for r in rows} == {ids["D"]}
    assert rows[0]["url"] == "https://app.example.com/30"


def test_the_mtu_report(world: tuple[Services, dict[str, str]]) -> None:
    services, _ = world
    run_job("tier-promotion-sweep", services)
    report = mtu_report(services.settings, services.sql, services.documents,
                        NOW.strftime("%Y-%m"))  # fmt: skip
    assert (report.mtus, report.cold_only_ids, report.ids_seen) == (2, 4, 6)  # user D, anon E
    assert report.mtu_share == pytest.approx(2 / 6)
    assert report.saving_usd == 0.04  # 4 cold-only ids at $0.01
    assert (report.promoted_ids, report.promoted_with_first_touch) == (2, 2)
    ops = report.cold_operations
    assert ops["cold_events"] == ops["bigquery_rows"] == 13
    assert ops["pubsub_messages"] == 13 and ops["function_invocations"] == 26
    assert 0 < report.cold_path_cost_usd < 0.001
    assert any("MTUs (full pipeline)   2" in line for line in report.lines())


def test_a_month_that_does_not_parse_is_a_clear_error(
    world: tuple[Services, dict[str, str]],
) -> None:
    from shared.errors import BadRequest

    services, _ = world
    with pytest.raises(BadRequest, match="2026-11"):
        mtu_report(services.settings, services.sql, services.documents, "November")


def webhook_opted_in(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The webhook enabled and opted into back-fills (its own CDP_WEBHOOK_* settings)."""
    monkeypatch.setenv("CDP_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("CDP_WEBHOOK_BACKFILL", "true")
    enabled = services.settings.model_copy(update={"destinations": ["webhook"]})
    return replace(services, settings=enabled)


def test_the_sweep_backfills_each_entered_ids_cold_journey_once(
    world: tuple[Services, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, ids = world
    services = webhook_opted_in(services, monkeypatch)
    signup = engaged(ids["D"], ids["user"], "identify", timedelta(hours=1), 9)
    services.identity.handle(Envelope("events", [signup], {}))  # its profile: consent to check
    result = run_job("tier-promotion-sweep", services)
    # D entered the full pipeline with two cold page views behind it; E entered with none; A
    # and F are promoted but have not come back yet.
    assert (result["backfilled_ids"], result["backfilled_events"]) == (1, 2)
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [message] = publisher.on(BACKFILLS)
    body = json.loads(message.data)
    assert (body["meta"]["anonymousId"], body["meta"]["userId"]) == (ids["D"], ids["user"])
    events = body["events"]
    assert [e["messageId"] for e in events] == [f"{ids['D']}-p30", f"{ids['D']}-p31"]
    assert events[0]["context"]["campaign"] == CAMPAIGN  # the events as they were received
    again = run_job("tier-promotion-sweep", services)
    assert (again["backfilled_ids"], again["backfilled_events"]) == (0, 0)
    assert len(publisher.on(BACKFILLS)) == 1


def test_without_an_opted_in_destination_the_sweep_backfills_nothing(
    world: tuple[Services, dict[str, str]],
) -> None:
    services, _ = world
    result = run_job("tier-promotion-sweep", services)
    assert result["backfilled_ids"] == 0
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher) and publisher.on(BACKFILLS) == []


def test_ids_that_just_entered_wait_for_the_settle_delay(
    world: tuple[Services, dict[str, str]],
) -> None:
    services, _ = world  # D and E were assigned at NOW
    settled = replace(services, settings=services.settings.model_copy(
        update={"tier_sweep_settle_seconds": 300}))  # fmt: skip
    assert run_job("tier-promotion-sweep", settled)["entered_recently"] == 0
    later = replace(settled, clock=FakeClock(NOW + timedelta(minutes=6)))
    assert run_job("tier-promotion-sweep", later)["entered_recently"] == 2


def test_the_mtu_report_survives_an_empty_anonymous_id(
    world: tuple[Services, dict[str, str]], unique: str
) -> None:
    services, _ = world  # ingest accepts "" beside a userId; the report looked it up
    signup = engaged("", f"empty-{unique}", "identify", timedelta(minutes=9), 4)
    services.loader.handle(Envelope("events", [signup], {}))
    run_job("tier-promotion-sweep", services)
    report = mtu_report(services.settings, services.sql, services.documents,
                        NOW.strftime("%Y-%m"))  # fmt: skip
    assert (report.mtus, report.promoted_ids, report.promoted_with_first_touch) == (3, 2, 2)


def test_the_sweep_and_backfill_survive_ids_that_are_no_document_id(
    world: tuple[Services, dict[str, str]], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ ".", a reserved ``__x__`` and an id over Firestore's 1,500 bytes once encoded: each is a
    promotion, an attribution and a back-fill record, and the MTU report reads them."""
    services, _ = world
    services = webhook_opted_in(services, monkeypatch)
    reserved, long = f"__{unique}__", f"{unique}-" + "é" * 400
    for anon in (".", reserved, long):  # cold visits, three sessions each: the threshold
        for d in (3, 2, 1):
            services.loader.handle(Envelope("cold", [page(anon, timedelta(days=d), 50 + d)], {}))
    entering = Envelope("events", [
        engaged(".", f"dot-{unique}", "identify", timedelta(minutes=8), 5),
        engaged(reserved, f"reserved-{unique}", "identify", timedelta(minutes=7), 6),
    ], {})  # fmt: skip
    services.loader.handle(entering)
    services.identity.handle(entering)
    load_identity_changes(services)
    result = run_job("tier-promotion-sweep", services)
    assert result["promoted"] >= 3  # A, reserved and long (and "." unless an earlier run did)
    assert result["backfilled_ids"] >= 2  # D and reserved (and ".")
    assert services.documents.get(PROMOTIONS, doc_id(long)) is not None
    report = mtu_report(services.settings, services.sql, services.documents,
                        NOW.strftime("%Y-%m"))  # fmt: skip
    assert (report.promoted_ids, report.promoted_with_first_touch) == (4, 4)  # D, E, ".", reserved
    assert (report.mtus, report.cold_only_ids) == (4, 5)  # 3 users and E; A B C F and long
