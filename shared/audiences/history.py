"""The membership history a run reads and appends to: the open memberships of the present
lineage (``cdp_curated.audience_memberships``, a view over the transitions) and the appended
transitions (``cdp_processed.audience_transitions``, insertId: their id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from shared.audiences.memberships import Member, Transition, message_id
from shared.audiences.tables import MEMBERSHIPS_VIEW, PRESENT, TRANSITIONS_TABLE, lineage_of
from shared.errors import PermanentError
from shared.ports.warehouse import Row
from shared.warehouse.layers import CURATED, PROCESSED

if TYPE_CHECKING:
    from shared.bootstrap import Services

INSERT_BATCH = 500
MEMBERS_SQL = """
SELECT audience_key, profile_id, user_id, entered_at FROM `{view}`
WHERE exited_at IS NULL AND lineage = @lineage
"""
REFUSED = "The transitions table refused {n} rows, e.g. {error}"


class TransitionsRefused(PermanentError):
    """BigQuery refused transition rows: the code and the table disagree (a deploy to fix)."""


def open_members(services: Services) -> list[Member]:
    """The open memberships of the present lineage."""
    view = services.settings.table(CURATED, MEMBERSHIPS_VIEW)
    return [
        Member(str(r["audience_key"]), str(r["profile_id"]), r.get("user_id"), r["entered_at"])
        for r in services.sql.query(MEMBERS_SQL.format(view=view), {"lineage": PRESENT})
    ]


def store_transitions(
    services: Services, moves: Sequence[Transition], at: datetime, run_id: str
) -> None:
    """Append the transitions; their id is the track's messageId (an as-of run's, that id and
    ``-as-of``: a present run may have the same as-of)."""
    table = f"{services.settings.dataset(PROCESSED)}.{TRANSITIONS_TABLE}"
    recorded = services.clock.now()
    suffix = "" if lineage_of(run_id) == PRESENT else "-as-of"
    rows: list[Row] = [
        {
            "transition_id": message_id(t.audience_key, t.profile_id, t.transition, at) + suffix,
            "audience_key": t.audience_key,
            "profile_id": t.profile_id,
            "user_id": t.user_id,
            "transition": t.transition,
            "at": at,
            "run_id": run_id,
            "reason": t.reason,
            "recorded_at": recorded,
        }
        for t in moves
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        chunk = rows[start : start + INSERT_BATCH]
        errors = services.warehouse.insert_rows(
            table, chunk, [str(r["transition_id"]) for r in chunk]
        )
        if errors:
            raise TransitionsRefused(REFUSED.format(n=len(errors), error=errors[0]))
