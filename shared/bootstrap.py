"""All wiring in one place. Functions call ``services()``; tests call ``bootstrap(...)`` with
fakes. Building services connects to nothing: each adapter opens its client on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.http import HttpxSender
from shared.adapters.pubsub import PubSubPublisher
from shared.destinations.webhook import WebhookDestination
from shared.identity.handler import IdentityHandler
from shared.identity.profiles import ProfileRepository
from shared.ingest.handler import IngestHandler
from shared.ports.clock import Clock, SystemClock
from shared.ports.documents import DocumentStore
from shared.ports.http import HttpSender
from shared.ports.publisher import Publisher
from shared.ports.warehouse import SqlRunner, Warehouse
from shared.settings import Settings, get_settings
from shared.tiering.forwarder import Ga4Forwarder
from shared.tiering.router import TierRouter
from shared.tiering.rule import TierPolicy
from shared.tiering.state import PromotionState
from shared.warehouse.loader import WarehouseLoader


@dataclass
class Services:
    settings: Settings
    clock: Clock
    publisher: Publisher
    documents: DocumentStore
    warehouse: Warehouse
    sql: SqlRunner
    http: HttpSender

    @cached_property
    def ingest(self) -> IngestHandler:
        return IngestHandler(self.settings, self.publisher, self.clock, tiers=self.tiers)

    @cached_property
    def identity(self) -> IdentityHandler:
        profiles = ProfileRepository(self.documents, self.settings.identity)
        return IdentityHandler(profiles, self.publisher, self.clock)

    @cached_property
    def tiers(self) -> TierRouter:
        """One per instance: its promotion cache lives as long as the instance."""
        state = PromotionState(
            self.documents,
            self.clock,
            negative_ttl_seconds=self.settings.tier_negative_cache_seconds,
            max_ids=self.settings.tier_cache_max_ids,
        )
        return TierRouter(TierPolicy.from_settings(self.settings), state)

    @cached_property
    def ga4(self) -> Ga4Forwarder:
        return Ga4Forwarder(self.settings, self.http, self.clock)

    @cached_property
    def webhook(self) -> WebhookDestination:
        return WebhookDestination(self.settings, self.http, self.clock)

    @cached_property
    def loader(self) -> WarehouseLoader:
        return WarehouseLoader(self.settings, self.warehouse, self.publisher, self.clock)


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
    documents: DocumentStore | None = None,
    warehouse: Warehouse | None = None,
    sql: SqlRunner | None = None,
    http: HttpSender | None = None,
) -> Services:
    settings = settings or get_settings()
    bigquery = BigQueryWarehouse(
        settings.project_id, settings.bigquery_location, settings.bigquery_endpoint
    )
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        publisher=publisher or PubSubPublisher(settings.project_id),
        documents=documents
        or FirestoreDocumentStore(settings.project_id, settings.firestore_database),
        warehouse=warehouse or bigquery,
        sql=sql or bigquery,
        http=http or HttpxSender(),
    )


_services: Services | None = None


def services() -> Services:
    """This instance's services, built on first use and kept for the instance's life."""
    global _services
    if _services is None:
        _services = bootstrap()
    return _services


def use_services(replacement: Services | None) -> None:
    """Make ``services()`` return ``replacement`` (tests pass services built on fakes;
    None goes back to building real ones on next use)."""
    global _services
    _services = replacement
