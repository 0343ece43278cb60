"""Back-fill planning without SQL: journeys from rows, message splitting, once-only records.

The query itself runs on the BigQuery emulator (tests/integration/test_tier_sweep.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.destinations.backfill import (
    BACKFILLED,
    KIND,
    Journey,
    journeys,
    messages,
    opted_in,
    run_backfill,
)
from shared.errors import BackendUnavailable
from shared.identity.config import IdentityConfig
from shared.identity.profiles import ProfileRepository
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings
from shared.tiering.state import doc_id
from shared.tiering.sweep import Entered
from shared.topology import BACKFILLS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPTED_IN = Settings(project_id="p", destinations=["webhook"])
HOOK_ENV = {"CDP_WEBHOOK_URL": "https://h.example/x", "CDP_WEBHOOK_BACKFILL": "true"}


@pytest.fixture(autouse=True)
def webhook_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook destination's own settings (CDP_WEBHOOK_*) opt it into back-fills."""
    for name, value in HOOK_ENV.items():
        monkeypatch.setenv(name, value)


def row(anon: str, n: int) -> dict[str, Any]:
    page = {"type": "page", "anonymousId": anon, "messageId": f"{anon}-p{n}"}
    return {"anonymous_id": anon, "payload": json.dumps(page)}


def entered(*ids: str) -> list[Entered]:
    return [Entered(a, f"user-{a}") for a in ids]


class CannedSql(SqlRunner):
    """Answers every query with the same rows and counts the queries."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.calls.append({"sql": sql, **(params or {})})
        return self.rows


@pytest.mark.parametrize(
    ("environment", "enabled", "expected"),
    [({}, ["webhook"], ["webhook"]),
     ({"CDP_WEBHOOK_BACKFILL": "false"}, ["webhook"], []),
     ({}, [], []),  # opted in, but the destination is not enabled
     ({}, ["ga4", "webhook"], ["webhook"])],
)  # fmt: skip
def test_who_opted_in(
    environment: dict[str, str],
    enabled: list[str],
    expected: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert opted_in(OPTED_IN.model_copy(update={"destinations": enabled})) == expected


def test_rows_group_into_one_journey_per_id_in_order() -> None:
    found = journeys([row("a1", 0), row("a1", 1), row("a2", 0)], {"a1": "u1", "a2": None})
    assert [(j.anonymous_id, j.user_id, len(j.events)) for j in found] == [
        ("a1", "u1", 2), ("a2", None, 1)
    ]  # fmt: skip
    assert [json.loads(e)["messageId"] for e in found[0].events] == ["a1-p0", "a1-p1"]


def test_a_journey_is_one_message_unless_it_is_too_big() -> None:
    journey = Journey("a1", "u1", [b'{"n":%d}' % i for i in range(10)])
    [one] = list(messages(journey))
    assert (one.topic, one.attributes["kind"], one.attributes["count"]) == (BACKFILLS, KIND, "10")
    assert json.loads(one.data)["meta"] == {"anonymousId": "a1", "userId": "u1", "consent": {}}
    split = list(messages(journey, limit=30))
    assert [m.attributes["count"] for m in split] == ["3", "3", "3", "1"]  # 8 bytes each
    assert [e["n"] for m in split for e in json.loads(m.data)["events"]] == list(range(10))
    empty = len(next(messages(Journey("a1", "u1", [b"{}"]))).data) - 2  # the body around events
    assert all(len(m.data) < 30 + empty for m in split)


def with_profiles(*people: tuple[str, dict[str, bool]]) -> InMemoryDocumentStore:
    """A store where identity already wrote each (anonymous id, consent) person's profile."""
    documents = InMemoryDocumentStore()
    repository = ProfileRepository(documents, IdentityConfig())
    for n, (anon, consent) in enumerate(people):
        repository.record({
            "type": "identify", "anonymousId": anon, "userId": f"user-{anon}",
            "messageId": f"i{n}", "timestamp": "2026-11-22T11:00:00Z",
            "context": {"consent": {"categoryPreferences": consent}},
        })  # fmt: skip
    return documents


def test_a_journey_is_published_once_and_recorded() -> None:
    sql = CannedSql([row("a1", 0), row("a1", 1), row("a2", 0)])
    documents, publisher = with_profiles(("a1", {}), ("a2", {})), InMemoryPublisher()
    first = run_backfill(OPTED_IN, sql, documents, publisher, NOW, entered("a1", "a2"))
    assert first == {"backfilled_ids": 2, "backfilled_events": 3}
    published = [json.loads(m.data)["meta"]["anonymousId"] for m in publisher.on(BACKFILLS)]
    assert published == ["a1", "a2"]
    record = documents.get(BACKFILLED, doc_id("a1"))
    assert record is not None and (record["events"], record["user_id"]) == (2, "user-a1")
    again = run_backfill(OPTED_IN, sql, documents, publisher, NOW, entered("a1", "a2"))
    assert again == {"backfilled_ids": 0, "backfilled_events": 0}
    assert len(publisher.on(BACKFILLS)) == 2
    params = sql.calls[0]
    assert (params["now"], params["window"], params["ids"]) == (NOW, 30, ["a1", "a2"])
    assert "`p.cdp_raw.cold_archive`" in params["sql"] and "IN UNNEST(@ids)" in params["sql"]


def test_a_failed_publish_records_nothing_so_the_next_sweep_retries() -> None:
    sql = CannedSql([row("a1", 0)])
    documents, publisher = with_profiles(("a1", {})), InMemoryPublisher()
    publisher.fail_next = 1
    with pytest.raises(BackendUnavailable):
        run_backfill(OPTED_IN, sql, documents, publisher, NOW, entered("a1"))
    assert documents.get(BACKFILLED, doc_id("a1")) is None
    assert (
        run_backfill(OPTED_IN, sql, documents, publisher, NOW, entered("a1"))["backfilled_ids"] == 1
    )


@pytest.mark.parametrize(
    ("settings", "ids"), [(OPTED_IN.model_copy(update={"destinations": []}), ["a1"]),
                          (OPTED_IN, [])]
)  # fmt: skip
def test_without_an_opted_in_destination_or_a_new_id_no_query_runs(
    settings: Settings, ids: list[str]
) -> None:
    sql = CannedSql([row("a1", 0)])
    args = (InMemoryDocumentStore(), InMemoryPublisher(), NOW, entered(*ids))
    assert run_backfill(settings, sql, *args) == {"backfilled_ids": 0, "backfilled_events": 0}
    assert sql.calls == []


def test_the_persons_consent_travels_with_the_journey_and_no_profile_is_skipped() -> None:
    sql = CannedSql([row("a1", 0), row("a2", 0), row("a3", 0)])
    documents = with_profiles(("a1", {"marketing": False, "analytics": True}), ("a2", {}))
    publisher = InMemoryPublisher()
    ids = entered("a1", "a2", "a3")
    assert run_backfill(OPTED_IN, sql, documents, publisher, NOW, ids)["backfilled_ids"] == 2
    metas = [json.loads(m.data)["meta"] for m in publisher.on(BACKFILLS)]
    consent = {meta["anonymousId"]: meta["consent"] for meta in metas}
    assert consent == {"a1": {"marketing": False, "analytics": True}, "a2": {}}
    assert documents.get(BACKFILLED, doc_id("a3")) is None  # never sent unchecked


def test_rows_without_a_payload_make_no_journey() -> None:
    assert journeys([{"anonymous_id": "a1", "payload": None}], {"a1": None}) == []


def test_long_ids_and_consent_travel_in_the_body_not_in_attributes() -> None:
    long_id = "a" * 2000  # Pub/Sub refuses an attribute value over 1024 bytes
    consent = {f"vendor_{n}": n % 2 == 0 for n in range(200)}
    journey = Journey(long_id, "u" * 2000, [b'{"n":1}'], consent)
    [message] = list(messages(journey))
    assert all(len(v.encode()) <= 1024 for v in message.attributes.values())
    meta = json.loads(message.data)["meta"]
    assert (meta["anonymousId"], meta["consent"]) == (long_id, consent)
