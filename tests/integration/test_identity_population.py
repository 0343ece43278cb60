"""Identity on the emulators: a generated population resolves exactly on Firestore with two
writers at once, and ``cdp identity reprocess`` joins people that past alias calls left split
(the aliases read back from the BigQuery emulator)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.bootstrap import Services, bootstrap
from shared.identity.graph import PROFILES
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.identity.reprocess import reprocess_aliases
from shared.local.emulators import EmulatorPorts
from shared.ports.documents import DocumentStore
from shared.ports.publisher import InMemoryPublisher
from shared.settings import Settings
from shared.warehouse.layers import EVENTS_TABLE, PROCESSED, RAW
from tests.conftest import PROJECT
from tests.fakes import client, installed, push_body
from tests.integration.test_warehouse_loader import needed
from tests.population import expected, population, precision_recall

pytestmark = pytest.mark.integration


def tagged_clusters(store: DocumentStore, tag: str) -> set[frozenset[str]]:
    return {
        frozenset(f"{k}:{v}" for k, values in doc["identifiers"].items() for v in values)
        for _, doc in store.list(PROFILES, limit=100_000)
        if not doc.get("merged_into") and tag in str(doc["identifiers"])
    }


def test_a_population_resolves_exactly_on_firestore_with_two_writers(
    emulators: EmulatorPorts, unique: str
) -> None:
    people = population(30, seed=4, tag=unique)
    store = FirestoreDocumentStore(PROJECT)
    messages = people.messages(seed=9)
    errors: list[BaseException] = []

    def writer(share: list[list[dict[str, Any]]]) -> None:
        repo = ProfileRepository(store)
        try:
            for message in share:
                repo.record_all(message)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(messages[n::2],)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert errors == [] and not any(t.is_alive() for t in threads)
    found, truth = tagged_clusters(store, unique), expected(people.links)
    assert precision_recall(found, truth) == (1.0, 1.0)
    assert found == truth


@pytest.fixture
def services(emulators: EmulatorPorts, unique: str) -> Iterator[Services]:
    endpoint = f"http://127.0.0.1:{emulators.bigquery}"
    bigquery = BigQueryWarehouse(PROJECT, "EU", endpoint)
    settings = Settings(project_id=PROJECT, dataset_prefix=f"al_{unique}", bigquery_endpoint="-")
    # Only what the loader writes for a track and an alias, and reprocess reads (each table or
    # view costs the emulator a slow DDL).
    bigquery.ensure(
        needed(settings, f"{RAW}.{EVENTS_TABLE}", f"{PROCESSED}.tracks", f"{PROCESSED}.aliases")
    )
    built = bootstrap(
        settings,
        warehouse=bigquery,
        sql=bigquery,
        documents=FirestoreDocumentStore(PROJECT),
        publisher=InMemoryPublisher(),
    )
    with installed(built):
        yield built


def test_reprocess_joins_people_that_past_aliases_left_split(
    services: Services, unique: str
) -> None:
    anon, user = f"{unique}-anon", f"{unique}-user"
    visit = {
        "type": "track",
        "event": "kyc_started",
        "anonymousId": anon,
        "messageId": f"{unique}-1",
    }
    aliased = {"type": "alias", "previousId": anon, "userId": user, "messageId": f"{unique}-2"}
    stamp = {"receivedAt": "2026-11-20T10:00:00.000Z", "timestamp": "2026-11-20T10:00:00.000Z"}
    events = [{**visit, **stamp}, {**aliased, **stamp}]
    assert client("warehouse-loader").post("/", json=push_body(events)).status_code == 200
    # As identity applied them before alias calls linked their previousId: two people.
    repo = services.identity.profiles
    repo.record(events[0])
    repo.record({k: v for k, v in events[1].items() if k != "previousId"})
    assert repo.find(Identifier("anonymous_id", anon)) != repo.find(Identifier("user_id", user))

    seen: list[tuple[int, int]] = []
    since = datetime(2026, 11, 1, tzinfo=UTC)
    result = reprocess_aliases(
        services.settings, services.sql, services.identity, since, lambda *p: seen.append(p)
    )
    assert (result.aliases, result.joined, result.refused, result.unreadable) == (1, 1, 0, 0)
    assert seen == [(1, 1)]
    person = repo.find(Identifier("user_id", user))
    assert person is not None and person["identifiers"]["anonymous_id"] == [anon]
    published = services.publisher.on("identity-changes")  # type: ignore[attr-defined]
    assert len(published) == 1  # the merge, for the identity map
    again = reprocess_aliases(services.settings, services.sql, services.identity, since)
    assert again.joined == 1 and repo.find(Identifier("user_id", user)) == person
