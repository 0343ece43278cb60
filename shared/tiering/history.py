"""A person's cold history in the warehouse: the cold events of every anonymous id that their
identify calls linked to their userId.

Until the warehouse's identity map (identifier → profile, with validity in time) lands, the link
is the raw ``identify`` rows carrying both ids; with the map, the join becomes
``cold_archive.anonymous_id = identity_map.value`` for the person's profile id.
"""

from __future__ import annotations

from typing import Any

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, EVENTS_TABLE, RAW

COLD_HISTORY_SQL = """
WITH links AS (
  SELECT DISTINCT anonymous_id, user_id FROM `{events}`
  WHERE type IN ('identify', 'alias') AND user_id = @user_id AND anonymous_id IS NOT NULL
)
SELECT l.user_id, c.anonymous_id, c.message_id, c.type, c.timestamp,
       JSON_VALUE(c.payload, '$.properties.url') AS url
FROM `{cold}` AS c JOIN links AS l ON c.anonymous_id = l.anonymous_id
ORDER BY c.timestamp, c.message_id
"""


def cold_history(settings: Settings, sql: SqlRunner, user_id: str) -> list[dict[str, Any]]:
    raw = f"{settings.project_id}.{settings.dataset(RAW)}"
    query = COLD_HISTORY_SQL.format(
        events=f"{raw}.{EVENTS_TABLE}", cold=f"{raw}.{COLD_ARCHIVE_TABLE}"
    )
    return sql.query(query, {"user_id": user_id})
