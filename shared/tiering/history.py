"""A person's cold history in the warehouse: the cold events of every anonymous id that the
identity map currently assigns to the profile of their userId.

The identity map (``cdp_curated.identity_map``, identifier → profile with validity in time) is
fed by identity changes, so the join follows merges and unmerges: an anonymous id that a merge
brought to the person brings its cold page views with it, and an unmerge takes them away.
"""

from __future__ import annotations

from typing import Any

from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW
from shared.warehouse.tables import COLD_ARCHIVE_TABLE, RAW

COLD_HISTORY_SQL = """
WITH person AS (
  SELECT DISTINCT profile_id FROM `{identity_map}`
  WHERE identifier_type = 'user_id' AND identifier_value = @user_id AND valid_to IS NULL
), ids AS (
  SELECT DISTINCT m.identifier_value AS anonymous_id
  FROM `{identity_map}` AS m JOIN person AS p ON m.profile_id = p.profile_id
  WHERE m.identifier_type = 'anonymous_id' AND m.valid_to IS NULL
)
SELECT @user_id AS user_id, c.anonymous_id, c.message_id, c.type, c.timestamp,
       JSON_VALUE(c.payload, '$.properties.url') AS url
FROM `{cold}` AS c JOIN ids ON c.anonymous_id = ids.anonymous_id
ORDER BY c.timestamp, c.message_id
"""


def cold_history(settings: Settings, sql: SqlRunner, user_id: str) -> list[dict[str, Any]]:
    query = COLD_HISTORY_SQL.format(
        identity_map=settings.table(CURATED, IDENTITY_MAP_VIEW),
        cold=settings.table(RAW, COLD_ARCHIVE_TABLE),
    )
    return sql.query(query, {"user_id": user_id})
