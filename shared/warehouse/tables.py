"""Every dataset, table and view, declared once: the local stack creates them, Pulumi deploys them.

Layers are datasets named ``<prefix>_<layer>`` (see ``shared.warehouse.layers``).
"""

from __future__ import annotations

from shared.audiences.tables import audience_tables, audience_views
from shared.governance.plan import TrackingPlan, load_plan
from shared.governance.quality import QUALITY_CHECKS, QUALITY_PROPERTIES
from shared.ports.warehouse import Column, Dataset, Table, View
from shared.settings import Settings
from shared.warehouse.access import analytics_dataset
from shared.warehouse.layers import (
    COLD_ARCHIVE_TABLE,
    CURATED,
    DELIVERIES_TABLE,
    EVENT_VIEWS,
    EVENTS_TABLE,
    FAILED_EVENTS_TABLE,
    OPS,
    PROCESSED,
    RAW,
    VIOLATION_EVENTS_TABLE,
    VIOLATIONS_VIEW,
)
from shared.warehouse.processed import processed_tables
from shared.warehouse.views import curated_views, event_views

__all__ = [
    "COLD_ARCHIVE_TABLE",
    "DELIVERIES_TABLE",
    "EVENTS_TABLE",
    "EVENT_COLUMNS",
    "FAILED_EVENTS_TABLE",
    "OPS",
    "PROCESSED",
    "RAW",
    "datasets",
]

EVENT_COLUMNS = (
    Column("message_id", "STRING", "REQUIRED", "Segment messageId; unique per event."),
    Column("type", "STRING", description="track, identify, page, screen, group or alias."),
    Column("event", "STRING", description="Track event name."),
    Column("user_id", "STRING"),
    Column("anonymous_id", "STRING"),
    Column("source_id", "STRING"),
    Column("timestamp", "TIMESTAMP", description="Event time, corrected for device skew."),
    Column("received_at", "TIMESTAMP", "REQUIRED"),
    Column("loaded_at", "TIMESTAMP", "REQUIRED"),
    Column("payload", "JSON", description="The whole event as accepted."),
)

DELIVERY_COLUMNS = (
    Column("destination", "STRING", "REQUIRED"),
    Column(
        "source_message",
        "STRING",
        "REQUIRED",
        "The engaged message the events came in (a key of their messageIds).",
    ),
    Column("kind", "STRING", description="events or backfill."),
    Column("attempt_at", "TIMESTAMP", "REQUIRED"),
    Column("outcome", "STRING", "REQUIRED", "delivered, partial, refused, retry or empty."),
    Column("events", "INT64"),
    Column("delivered", "INT64"),
    Column("filtered", "INT64", description="Kept back by the filter or consent."),
    Column("skipped", "INT64", description="Not for this provider (e.g. no appsflyer_id)."),
    Column("refused", "INT64", description="Refused by the provider: in failed_events."),
    Column("already_delivered", "INT64", description="Sent by an earlier attempt (ledger)."),
    Column("requests", "INT64"),
    Column("oldest_received_at", "TIMESTAMP"),
    Column("reason", "STRING"),
)

FAILED_EVENT_COLUMNS = (
    Column("failed_id", "STRING", "REQUIRED"),
    Column("stage", "STRING", "REQUIRED", "ingest, identity, warehouse, ..."),
    Column("reason", "STRING", "REQUIRED"),
    Column("source_id", "STRING"),
    Column("message_id", "STRING"),
    Column("received_at", "TIMESTAMP"),
    Column("recorded_at", "TIMESTAMP", "REQUIRED"),
    Column("payload", "STRING", description="The original, possibly invalid."),
    Column(
        "findings",
        "STRING",
        description="Governance's findings (JSON list of kind, event, property, detail) when "
        "the tracking plan or the PII guard blocked it: what a replay selects on.",
    ),
)

VIOLATION_COLUMNS = (
    Column("violation_id", "STRING", "REQUIRED", "source:messageId:kind:event:property."),
    Column("message_id", "STRING", "REQUIRED"),
    Column("source_id", "STRING"),
    Column("event", "STRING", description="Track event name, else the call type."),
    Column("kind", "STRING", "REQUIRED", "unplanned_event, missing_property, wrong_type, ..."),
    Column("property", "STRING"),
    Column("plan_version", "INT64"),
    Column("mode", "STRING", description="flag (it flowed on) or block (in failed_events)."),
    Column("received_at", "TIMESTAMP", "REQUIRED"),
    Column("recorded_at", "TIMESTAMP", "REQUIRED"),
)

# Counted by distinct messageId, so a redelivered message or a replay never counts twice.
VIOLATIONS_SQL = """
SELECT
  TIMESTAMP_TRUNC(received_at, HOUR) AS hour, source_id, event, kind,
  COALESCE(property, '') AS property, plan_version, mode, COUNT(DISTINCT message_id) AS count
FROM `{table}`
GROUP BY hour, source_id, event, kind, property, plan_version, mode
"""


def datasets(settings: Settings, plan: TrackingPlan | None = None) -> tuple[Dataset, ...]:
    plan = plan or load_plan()
    return (
        Dataset(
            settings.dataset(RAW),
            (
                Table(
                    EVENTS_TABLE,
                    EVENT_COLUMNS,
                    partition_field="received_at",
                    clustering=("type", "user_id", "anonymous_id"),
                    description="Every engaged event as accepted by ingest.",
                ),
                Table(
                    COLD_ARCHIVE_TABLE,
                    EVENT_COLUMNS,
                    partition_field="received_at",
                    partition_expiration_days=settings.cold_archive_expiration_days,
                    clustering=("anonymous_id",),
                    description="Cold-tier events; partitions expire.",
                ),
            ),
            "Raw layer: events as received.",
        ),
        Dataset(
            settings.dataset(PROCESSED),
            (*processed_tables(), *audience_tables()),
            "Processed layer: Segment-style tables, users and identity assignments.",
        ),
        Dataset(
            settings.dataset(CURATED),
            description="Curated layer: the identity map, events with their person, users.",
            views=(*curated_views(settings, plan), *audience_views(settings)),
        ),
        Dataset(
            settings.dataset(EVENT_VIEWS),
            description="One typed view per tracked event, generated from the tracking plan.",
            views=event_views(settings, plan),
        ),
        Dataset(
            settings.dataset(OPS),
            (
                Table(
                    FAILED_EVENTS_TABLE,
                    FAILED_EVENT_COLUMNS,
                    partition_field="recorded_at",
                    clustering=("stage", "source_id"),
                    description="Events refused anywhere in the pipeline, with the reason.",
                ),
                Table(
                    DELIVERIES_TABLE,
                    DELIVERY_COLUMNS,
                    partition_field="attempt_at",
                    clustering=("destination",),
                    description="One row per destination per delivery attempt of a message.",
                ),
                Table(
                    VIOLATION_EVENTS_TABLE,
                    VIOLATION_COLUMNS,
                    partition_field="received_at",
                    clustering=("source_id", "kind"),
                    description="Tracking-plan findings, one row per event and finding.",
                ),
                QUALITY_CHECKS,
                QUALITY_PROPERTIES,
            ),
            "Operations: failed events, deliveries, violations and checks.",
            views=(
                View(
                    VIOLATIONS_VIEW,
                    VIOLATIONS_SQL.format(
                        table=settings.table(OPS, VIOLATION_EVENTS_TABLE)
                    ).strip(),
                    "Violations per hour, source, event, kind and property, each counted once.",
                ),
            ),
        ),
        analytics_dataset(settings, plan),
    )
