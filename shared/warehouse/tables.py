"""Every dataset and table, declared once: the local stack creates them, Pulumi deploys them.

Layers are datasets named ``<prefix>_<layer>``: ``raw`` holds every accepted event as received
(JSON), the cold archive beside it expires; ``ops`` holds what operators look at.
"""

from __future__ import annotations

from shared.ports.warehouse import Column, Dataset, Table
from shared.settings import Settings

RAW = "raw"
OPS = "ops"
EVENTS_TABLE = "events"
COLD_ARCHIVE_TABLE = "cold_archive"
FAILED_EVENTS_TABLE = "failed_events"

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


def datasets(settings: Settings) -> tuple[Dataset, ...]:
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
            settings.dataset(OPS),
            (
                Table(
                    FAILED_EVENTS_TABLE,
                    (
                        Column("failed_id", "STRING", "REQUIRED"),
                        Column("stage", "STRING", "REQUIRED", "ingest, identity, warehouse, ..."),
                        Column("reason", "STRING", "REQUIRED"),
                        Column("source_id", "STRING"),
                        Column("message_id", "STRING"),
                        Column("received_at", "TIMESTAMP"),
                        Column("recorded_at", "TIMESTAMP", "REQUIRED"),
                        Column("payload", "STRING", description="The original, possibly invalid."),
                    ),
                    partition_field="recorded_at",
                    clustering=("stage", "source_id"),
                    description="Events refused anywhere in the pipeline, with the reason.",
                ),
            ),
            "Operations: failed events and checks.",
        ),
    )
