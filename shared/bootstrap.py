"""All wiring in one place. Functions call ``services()``; tests call ``bootstrap(...)`` with
fakes. Building services connects to nothing: each adapter opens its client on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.http import HttpxSender
from shared.adapters.pubsub import PubSubPublisher, PubSubSubscriber
from shared.destinations.framework import DestinationSettings
from shared.destinations.registry import build
from shared.destinations.runner import Runner, warehouse_reports
from shared.governance.checks import findings
from shared.governance.gate import Gate
from shared.governance.pii import PiiConfig, PiiGuard
from shared.governance.plan import PLAN_PATH, TrackingPlan, load_plan
from shared.governance.privacy.suppression import Suppressions
from shared.identity.handler import IdentityHandler
from shared.identity.profiles import ProfileRepository
from shared.ingest.handler import IngestHandler
from shared.ports.clock import Clock, SystemClock
from shared.ports.documents import DocumentStore
from shared.ports.http import HttpSender
from shared.ports.publisher import Publisher
from shared.ports.subscriber import Subscriber
from shared.ports.warehouse import SqlRunner, Warehouse
from shared.settings import Settings, get_settings
from shared.tiering.forwarder import Ga4Forwarder
from shared.tiering.router import TierRouter
from shared.tiering.rule import TierPolicy
from shared.tiering.state import PromotionState
from shared.warehouse.layers import DELIVERIES_TABLE, OPS
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
    subscriber: Subscriber  # operators' pulls from dead-letter subscriptions
    _runners: dict[str, Runner] = field(default_factory=dict)

    @cached_property
    def ingest(self) -> IngestHandler:
        return IngestHandler(
            self.settings, self.publisher, self.clock, tiers=self.tiers, gate=self.gate
        )

    @cached_property
    def plan(self) -> TrackingPlan:
        return load_plan(Path(self.settings.tracking_plan or PLAN_PATH))

    @cached_property
    def gate(self) -> Gate:
        """Governance at ingest: the plan's checks, its PII policies, the suppression list
        (read from Firestore at most every half minute per instance, never per event)."""
        key = self.settings.pii_hash_key
        guard = PiiGuard(PiiConfig.model_validate(self.plan.pii), key)
        suppression = Suppressions(self.documents, self.clock, key, config=self.settings.identity)
        return Gate(self.plan, findings, guard, suppression)

    @cached_property
    def identity(self) -> IdentityHandler:
        profiles = ProfileRepository(self.documents, self.settings.identity)
        feeds = bool(self.settings.enabled_destinations())
        return IdentityHandler(profiles, self.publisher, self.clock, destinations=feeds)

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

    def destination(self, name: str, settings: DestinationSettings | None = None) -> Runner:
        """Destination ``name``'s delivery path, built once per instance (its settings from
        ``CDP_<NAME>_*`` unless given)."""
        if name not in self._runners:
            self._runners[name] = Runner(
                build(name, self.clock, settings),
                http=self.http,
                clock=self.clock,
                publisher=self.publisher,
                documents=self.documents,
                reports=warehouse_reports(
                    self.warehouse, f"{self.settings.dataset(OPS)}.{DELIVERIES_TABLE}"
                ),
                opt_in=self.settings.consent_opt_in,
            )
        return self._runners[name]

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
    subscriber: Subscriber | None = None,
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
        subscriber=subscriber or PubSubSubscriber(settings.project_id),
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
