"""A privacy delete on the emulators (Firestore and BigQuery): a person with a merge, engaged
and cold events, identity assignments, users and a failed event; after the delete nothing of
them is left in any table or document, verification passes, and someone else is untouched.

The delete and the verification go over every declared table (a table they cannot read is a
step left pending, or a finding), so the test makes all of them; of the views (each a slow DDL
on the emulator) only the one the delete reads, the curated identity map."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.bootstrap import Services, bootstrap
from shared.envelope import decode_push, encode
from shared.governance.privacy.requests import DONE, VERIFIED
from shared.governance.privacy.service import PrivacyService
from shared.governance.privacy.suppression import Suppressions
from shared.identity.identifiers import Identifier
from shared.ports.publisher import InMemoryPublisher, OutboundMessage
from shared.ports.subscriber import InMemorySubscriber
from shared.settings import Settings
from shared.topology import COLD_EVENTS, EVENTS, FAILED_EVENTS, IDENTITY_CHANGES
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW
from shared.warehouse.tables import datasets
from shared.warehouse.users import refresh_users
from tests.conftest import PROJECT
from tests.fakes import client, installed
from tests.integration.test_warehouse_loader import needed

pytestmark = pytest.mark.integration


@pytest.fixture
def services(bigquery: BigQueryWarehouse, unique: str) -> Iterator[Services]:
    settings = Settings(
        project_id=PROJECT, dataset_prefix=f"pv_{unique}", bigquery_endpoint="-",
        pii_hash_key="integration-key",
    )  # fmt: skip
    prefix = f"{settings.dataset_prefix}_"
    every_table = [
        f"{d.name.removeprefix(prefix)}.{t.name}" for d in datasets(settings) for t in d.tables
    ]
    bigquery.ensure(needed(settings, *every_table, f"{CURATED}.{IDENTITY_MAP_VIEW}"))
    built = bootstrap(
        settings,
        warehouse=bigquery,
        sql=bigquery,
        documents=FirestoreDocumentStore(PROJECT),
        publisher=InMemoryPublisher(),
        subscriber=InMemorySubscriber(),
    )
    with installed(built):
        yield built


def deliver(message: OutboundMessage) -> None:
    body = {"subscription": "projects/p/subscriptions/s", "message": {
        "data": base64.b64encode(message.data).decode(), "attributes": message.attributes,
        "messageId": "1", "publishTime": "2026-11-20T00:00:00Z"}}  # fmt: skip
    assert client("warehouse-loader").post("/", json=body).status_code == 200


def engaged(services: Services, events: list[dict[str, object]]) -> None:
    """Through identity and into the warehouse, as the pipeline would."""
    message = encode(EVENTS, "events", events)
    deliver(message)
    push = {"message": {"data": base64.b64encode(message.data).decode(),
                        "attributes": message.attributes}}  # fmt: skip
    services.identity.handle(decode_push(push))
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    for change in publisher.on(IDENTITY_CHANGES):
        deliver(OutboundMessage(change.topic, change.data, change.attributes))
    publisher.messages.clear()


def count(bigquery: BigQueryWarehouse, prefix: str, value: str, keep: str = "") -> dict[str, int]:
    """Rows naming ``value`` anywhere, but for those naming ``keep`` (someone else's)."""
    found = {}
    for table in (
        "raw.events",
        "raw.cold_archive",
        "processed.tracks",
        "processed.identifies",
        "processed.users",
        "processed.identity_assignments",
        "ops.failed_events",
    ):
        layer, name = table.split(".")
        rows = bigquery.query(
            f"SELECT COUNT(*) AS n FROM `{PROJECT}.{prefix}_{layer}.{name}` AS t "
            "WHERE STRPOS(TO_JSON_STRING(t), @v) > 0 "
            "AND (@k = '' OR STRPOS(TO_JSON_STRING(t), @k) = 0)",
            {"v": value, "k": keep})  # fmt: skip
        found[table] = int(rows[0]["n"])
    return found


def test_delete_leaves_nothing_of_the_person_and_verify_passes(
    services: Services, bigquery: BigQueryWarehouse, unique: str
) -> None:
    user, web, phone, bob = f"{unique}-ada", f"{unique}-web", f"{unique}-phone", f"{unique}-bob"
    at = "2026-11-0{}T09:00:00Z"
    deliver(encode(COLD_EVENTS, "cold", [
        {"type": "page", "anonymousId": web, "messageId": f"{unique}-c1", "timestamp": at.format(1)}
    ]))  # fmt: skip
    engaged(services, [
        {"type": "track", "event": "sign_up", "anonymousId": web, "messageId": f"{unique}-e0",
         "timestamp": at.format(1)},
        {"type": "identify", "userId": user, "anonymousId": phone, "messageId": f"{unique}-e1",
         "traits": {"email": f"Ada.{unique}@Example.com"}, "timestamp": at.format(2)},
        {"type": "track", "event": "card_activated", "userId": user, "anonymousId": web,
         "messageId": f"{unique}-e2", "timestamp": at.format(3)},
        {"type": "identify", "userId": bob, "anonymousId": f"{unique}-b", "traits": {"x": 1},
         "messageId": f"{unique}-e3", "timestamp": at.format(3)},
    ])  # fmt: skip

    def failure(name: str, event: dict[str, object]) -> dict[str, object]:
        return {"failedId": f"{unique}-{name}", "stage": "ingest", "reason": "blocked",
                "messageId": f"{unique}-{name}", "payload": json.dumps(event)}  # fmt: skip

    deliver(encode(FAILED_EVENTS, "failed", [
        failure("f", {"userId": user}),
        # Her email as sent (capitals, a space), under an escaped name as ingest writes it.
        failure("f2", {"type": "identify", "anonymousId": f"{unique}-josé",
                       "context": {"traits": {"email": f" ADA.{unique}@EXAMPLE.COM"}}}),
        failure("f3", {"type": "track", "userId": bob, "properties": {"friend": user}}),
    ]))  # fmt: skip
    refresh_users(services.settings, bigquery)
    prefix = services.settings.dataset_prefix
    before = count(bigquery, prefix, web)
    assert before["raw.cold_archive"] == 1 and before["processed.identity_assignments"] >= 1
    assert count(bigquery, prefix, user)["processed.users"] == 1
    assert services.identity.profiles.find(("user_id", user)) is not None

    service = PrivacyService(
        settings=services.settings, documents=services.documents, clock=services.clock,
        sql=bigquery, http=services.http, subscriber=services.subscriber,
        deleters=lambda: [], without_deletion=lambda: [],
    )  # fmt: skip
    request = service.submit("SUPPRESS_WITH_DELETE", [Identifier("user_id", user)])
    assert request.status == DONE, [s for s in request.steps if s.status != DONE]
    assert set(request.person.values("anonymous_id")) == {web, phone}
    for value in (user, web, phone, f"ada.{unique}@example.com"):
        left = count(bigquery, prefix, value, keep=f"{unique}-f3")
        assert not any(left.values()), (value, left)
    assert services.identity.profiles.find(("anonymous_id", web)) is None
    assert count(bigquery, prefix, bob)["processed.users"] == 1  # someone else stays
    failed = bigquery.query(
        f"SELECT failed_id FROM `{PROJECT}.{prefix}_ops.failed_events` "
        "WHERE STARTS_WITH(failed_id, @u)", {"u": unique})  # fmt: skip
    assert [r["failed_id"] for r in failed] == [f"{unique}-f3"]  # Bob's, naming Ada in a property
    assert services.identity.profiles.find(("user_id", bob)) is not None

    findings = service.verify(request.request_id)
    assert findings.clean, findings.found
    assert service.status(request.request_id).status == VERIFIED
    check = Suppressions(services.documents, services.clock, "integration-key")
    assert check.suppressed({"type": "track", "anonymousId": phone, "messageId": "next"})
