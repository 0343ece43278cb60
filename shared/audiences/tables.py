"""The audiences' warehouse tables: the all-time trait state, the membership transitions, and
the membership history view over them (declared once: the local stack and Pulumi create them).

Both tables are append-only and streamed with deterministic insertIds, so a retried run adds
nothing; readers deduplicate by id all the same (insertId is best effort).

Memberships come in lineages: ``present`` (the hourly runs: what was announced, each run diffed
against the one before) and one per ``--as-of`` run (its run id: a snapshot of who was a member
at that moment, all entered then). A lineage is a history of its own: an as-of run never moves
the present, and as-of runs may be made in any order.
"""

from __future__ import annotations

from shared.ports.warehouse import Column, Table, View
from shared.settings import Settings
from shared.warehouse.layers import PROCESSED

TRAIT_STATE_TABLE = "audience_trait_state"
TRANSITIONS_TABLE = "audience_transitions"
MEMBERSHIPS_VIEW = "audience_memberships"
PRESENT = "present"  # the lineage of present-time runs
AS_OF_PREFIX = "as-of-"  # an as-of run's run id: its own lineage

TRAIT_STATE_COLUMNS = (
    Column("state_id", "STRING", "REQUIRED", "Hash of the key columns: the insertId."),
    Column("trait_key", "STRING", "REQUIRED", "A computed trait, or a rule's hidden aggregate."),
    Column("identifier_type", "STRING", "REQUIRED", "user_id or anonymous_id."),
    Column("identifier_value", "STRING", "REQUIRED", "The events' userId, else anonymousId."),
    Column(
        "anonymous_id",
        "STRING",
        description="The events' anonymousId: their person when the userId is not mapped.",
    ),
    Column("loaded_hour", "TIMESTAMP", "REQUIRED", "The hour its events were loaded in."),
    Column("value", "STRING", description="The property value as text, '' when not needed."),
    Column("events", "INT64"),
    Column("total", "FLOAT64"),
    Column("minimum", "FLOAT64"),
    Column("maximum", "FLOAT64"),
    Column("first_at", "TIMESTAMP"),
    Column("last_at", "TIMESTAMP"),
    Column("recorded_at", "TIMESTAMP", "REQUIRED"),
)

TRANSITION_COLUMNS = (
    Column("transition_id", "STRING", "REQUIRED", "The emitted track's messageId."),
    Column("audience_key", "STRING", "REQUIRED"),
    Column("profile_id", "STRING", "REQUIRED"),
    Column("user_id", "STRING"),
    Column("transition", "STRING", "REQUIRED", "entered or exited."),
    Column("at", "TIMESTAMP", "REQUIRED", "The run's as-of time."),
    Column("run_id", "STRING", "REQUIRED"),
    Column(
        "reason",
        "STRING",
        description="'', merged (a profile merge), deleted or removed (the audience was).",
    ),
    Column("recorded_at", "TIMESTAMP", "REQUIRED"),
)

# Each entry is closed by the next transition of the same person and audience in its lineage,
# if an exit. The lineage is read from the run id (``lineage_of``): no column to migrate.
MEMBERSHIPS_SQL = f"""
SELECT audience_key, profile_id, user_id, lineage, at AS entered_at,
  IF(next_transition = 'exited', next_at, NULL) AS exited_at
FROM (
  SELECT *,
    LEAD(transition) OVER (PARTITION BY lineage, audience_key, profile_id ORDER BY at, transition)
      AS next_transition,
    LEAD(at) OVER (PARTITION BY lineage, audience_key, profile_id ORDER BY at, transition)
      AS next_at
  FROM (
    SELECT *, IF(STARTS_WITH(run_id, '{AS_OF_PREFIX}'), run_id, '{PRESENT}') AS lineage
    FROM `{{transitions}}`
    WHERE TRUE
    QUALIFY ROW_NUMBER() OVER (PARTITION BY transition_id ORDER BY recorded_at) = 1
  )
)
WHERE transition = 'entered'
"""


def lineage_of(run_id: str) -> str:
    """The lineage of a run's transitions, as the view reads it."""
    return run_id if run_id.startswith(AS_OF_PREFIX) else PRESENT


def audience_tables() -> tuple[Table, ...]:
    """In the processed layer."""
    return (
        Table(
            TRAIT_STATE_TABLE,
            TRAIT_STATE_COLUMNS,
            partition_field="loaded_hour",
            clustering=("trait_key", "identifier_type", "identifier_value"),
            description="All-time computed-trait aggregates per identifier and hour loaded.",
        ),
        Table(
            TRANSITIONS_TABLE,
            TRANSITION_COLUMNS,
            partition_field="at",
            clustering=("audience_key", "profile_id"),
            description="Audience entries and exits, one row each.",
        ),
    )


def audience_views(settings: Settings) -> tuple[View, ...]:
    """In the curated layer."""
    transitions = settings.table(PROCESSED, TRANSITIONS_TABLE)
    return (
        View(
            MEMBERSHIPS_VIEW,
            MEMBERSHIPS_SQL.format(transitions=transitions).strip(),
            "Audience membership history per lineage (present, or an as-of run id): "
            "entered_at, exited_at (NULL while a member).",
        ),
    )
