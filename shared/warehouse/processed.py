"""The processed layer: Segment-style tables, ``users`` and the identity assignments.

Event tables are partitioned by day on the event ``timestamp`` and clustered by user, as
Segment's warehouse tables are queried: by person, over a time range. Everything an event carries
beyond these columns stays in its JSON columns (``properties``, ``traits``, ``context``), so a new
property never needs a schema change; the typed per-event views read them.
"""

from __future__ import annotations

from shared.ports.warehouse import Column, Table
from shared.warehouse.layers import IDENTITY_ASSIGNMENTS_TABLE, TABLE_OF_TYPE, USERS_TABLE

BASE_COLUMNS = (
    Column("message_id", "STRING", "REQUIRED", "Segment messageId; unique per event."),
    Column("user_id", "STRING"),
    Column("anonymous_id", "STRING"),
    Column("source_id", "STRING"),
    Column("timestamp", "TIMESTAMP", "REQUIRED", "Event time, corrected for device skew."),
    Column("original_timestamp", "TIMESTAMP", description="As the device sent it."),
    Column("sent_at", "TIMESTAMP"),
    Column("received_at", "TIMESTAMP", "REQUIRED"),
    Column("loaded_at", "TIMESTAMP", "REQUIRED"),
    Column("context", "JSON"),
)

PAGE_COLUMNS = (
    Column("name", "STRING"),
    Column("category", "STRING"),
    Column("path", "STRING"),
    Column("url", "STRING"),
    Column("referrer", "STRING"),
    Column("title", "STRING"),
    Column("search", "STRING"),
    Column("properties", "JSON"),
)

EXTRA_COLUMNS: dict[str, tuple[Column, ...]] = {
    "tracks": (Column("event", "STRING", "REQUIRED"), Column("properties", "JSON")),
    "identifies": (Column("traits", "JSON"),),
    "pages": PAGE_COLUMNS,
    "screens": (
        Column("name", "STRING"),
        Column("category", "STRING"),
        Column("properties", "JSON"),
    ),
    "groups": (Column("group_id", "STRING"), Column("traits", "JSON")),
    "aliases": (Column("previous_id", "STRING"),),
}

USERS_COLUMNS = (
    Column("user_id", "STRING", "REQUIRED"),
    Column("anonymous_id", "STRING", description="From the latest identify."),
    Column("traits", "JSON", description="Latest value of each trait, merged over all identifies."),
    Column("message_id", "STRING", description="The latest identify's messageId."),
    Column("first_seen_at", "TIMESTAMP", "REQUIRED", "Event time of the earliest identify."),
    Column("updated_at", "TIMESTAMP", "REQUIRED", "Event time of the latest identify."),
    Column("refreshed_at", "TIMESTAMP", "REQUIRED"),
)

ASSIGNMENT_COLUMNS = (
    Column("assignment_id", "STRING", "REQUIRED", "change_id, identifier type and value."),
    Column("change_id", "STRING", "REQUIRED"),
    Column("change", "STRING", "REQUIRED", "created, linked, merged or unmerged."),
    Column("identifier_type", "STRING", "REQUIRED", "user_id, anonymous_id, email, ..."),
    Column("identifier_value", "STRING", "REQUIRED"),
    Column("profile_id", "STRING", "REQUIRED"),
    Column("valid_from", "TIMESTAMP", "REQUIRED", "When the assignment took effect."),
    Column("absorbed_profile_id", "STRING"),
    Column("message_id", "STRING", description="The event that caused the change."),
    Column("source_id", "STRING"),
    Column("reason", "STRING"),
    Column("recorded_at", "TIMESTAMP", "REQUIRED"),
    Column("decided_at", "TIMESTAMP", description="When identity decided it: orders ties."),
)


def processed_tables() -> tuple[Table, ...]:
    events = tuple(
        Table(
            name,
            (*BASE_COLUMNS, *EXTRA_COLUMNS[name]),
            partition_field="timestamp",
            clustering=("user_id", "anonymous_id"),
            description=f"Segment-style {call} calls (engaged tier).",
        )
        for call, name in TABLE_OF_TYPE.items()
    )
    return (
        *events,
        Table(
            USERS_TABLE,
            USERS_COLUMNS,
            partition_field="first_seen_at",  # cohorts: users first seen in a day range
            clustering=("user_id",),
            description="One row per userId with its latest traits (refreshed by a job).",
        ),
        Table(
            IDENTITY_ASSIGNMENTS_TABLE,
            ASSIGNMENT_COLUMNS,
            partition_field="recorded_at",  # valid_from may predate what a partition accepts
            clustering=("identifier_type", "identifier_value"),
            description="Every identifier → profile assignment, append-only.",
        ),
    )
