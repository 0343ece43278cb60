"""Replaying stored alias calls through identity: ``cdp identity reprocess --since T``.

Before alias calls linked their ``previousId``, a person who signed up with alias kept their
pre-signup anonymous id on a profile of its own. The warehouse holds every accepted alias
(``cdp_raw.events``, whole payloads): replaying them through the same path as live events
joins those people now, publishes the identity changes (so the identity map and the cold
history follow), and changes nothing for an alias already applied (a replay is a redelivery).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from shared.identity.handler import IdentityHandler
from shared.identity.identifiers import Identifier, normalise
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.tables import EVENTS_TABLE, RAW

ALIASES_SQL = """
SELECT message_id, TO_JSON_STRING(payload) AS body FROM `{events}`
WHERE type = 'alias' AND received_at >= @since
ORDER BY received_at, message_id
"""
CHUNK = 200  # events per pass through identity, as one Pub/Sub message would carry


@dataclass(frozen=True)
class Reprocessed:
    aliases: int  # distinct alias calls read back
    unreadable: int  # rows whose payload was not an event (never expected; counted, skipped)
    changes: int  # identity changes published (a replayed one has its old change id)
    joined: int  # aliases whose previousId and userId now resolve to one profile
    refused: int  # aliases left apart by the merge rules (e.g. previousId is another userId)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _payloads(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    events: dict[str, dict[str, Any]] = {}
    unreadable = 0
    for row in rows:
        try:
            event = json.loads(row["body"] or "null")
        except (TypeError, ValueError):
            event = None
        if not isinstance(event, dict):
            unreadable += 1
            continue
        events.setdefault(str(row["message_id"]), event)  # a row loaded twice is one alias
    return list(events.values()), unreadable


def reprocess_aliases(
    settings: Settings,
    sql: SqlRunner,
    identity: IdentityHandler,
    since: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> Reprocessed:
    rows = sql.query(ALIASES_SQL.format(events=settings.table(RAW, EVENTS_TABLE)), {"since": since})
    events, unreadable = _payloads(rows)
    changes = 0
    for start in range(0, len(events), CHUNK):
        changes += identity.replay(events[start : start + CHUNK])
        if progress:
            progress(min(start + CHUNK, len(events)), len(events))
    joined = sum(1 for e in events if _joined(identity, e))
    return Reprocessed(len(events), unreadable, changes, joined, len(events) - joined)


def _joined(identity: IdentityHandler, event: dict[str, Any]) -> bool:
    config = identity.profiles.config
    previous = normalise("anonymous_id", event.get("previousId"), config)
    user = normalise("user_id", event.get("userId"), config)
    if previous is None or user is None:
        return False
    found = [identity.profiles.find(Identifier(*i)) for i in (previous, user)]
    return all(found) and found[0]["profile_id"] == found[1]["profile_id"]  # type: ignore[index]
