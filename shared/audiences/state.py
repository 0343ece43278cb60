"""The all-time trait state: refreshed at the start of every present-time run, so the run reads
its longest window, a few days of raw partitions and this small table.

``audience_runs/state`` (Firestore) holds ``state_until``: every message first loaded into the
raw tables before it is in ``cdp_processed.audience_trait_state``, rolled up per event
identifier and hour **loaded** (``compile_state``; ``sql_state.py`` says why loaded, not
received). A refresh adds the closed hours since then, up to the last full hour that ended at
least ``SETTLE`` ago, inserting ``compile_state``'s rows with their ``state_id`` as insertId,
then moves the watermark. ``SETTLE`` is how long a row may take to become queryable after its
``loaded_at``: the loader stamps ``loaded_at`` before its streaming insert, which the BigQuery
client retries for up to 10 minutes; an hour is final once that has passed. A refresh stopped
before the watermark moved inserts the same rows again next time: the same ids (the rows do not
depend on when they were computed, nor on the identity map), which readers deduplicate.

Each aggregate's rows are keyed by a hash of what it aggregates (``compiler.state_keys``), so a
trait redefined under its name gets new keys and its old rows are simply never read again. The
watermark lists the keys it holds: a refresh first back-fills the keys it does not hold yet (a
new trait, a redefined one), over the whole history up to the watermark, then adds the new hours
for every key. A redefined trait's first run therefore counts its whole history once, and the
keys that did not change are not computed again. Called without ``keys``, a refresh falls back
to a digest of the state SQL: any change rebuilds every key from the beginning (the rows of the
unchanged ones come out identical and are deduplicated by ``state_id``).

What the state cannot see: a message loaded more than ``LOAD_DAYS`` (7) after the ``receivedAt``
it carries. Pub/Sub redelivers for 7 days at most, but ``cdp failed-events replay`` re-enters a
blocked event with its original ``receivedAt``: one older than 7 days reaches the full history
but not the state until the state is rebuilt: empty the table, then delete
``audience_runs/state`` (a rebuild over rows already there changes nothing, since readers keep
the first row recorded per ``state_id``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.audiences.tables import TRAIT_STATE_TABLE
from shared.errors import PermanentError
from shared.ingest.events import iso
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import Row, SqlRunner, Warehouse
from shared.settings import Settings
from shared.warehouse.layers import PROCESSED

RUNS = "audience_runs"
STATE = "state"
SETTLE = timedelta(minutes=15)  # > the client's 10-minute insert retry deadline
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INSERT_BATCH = 500
REFUSED = "The trait state refused {n} rows, e.g. row {index}: {reason}"


class StateRefused(PermanentError):
    """BigQuery refused state rows: the state SQL and the table disagree (a deploy to fix)."""


def closed_until(now: datetime) -> datetime:
    """The end of the last full hour that ended at least ``SETTLE`` before ``now``."""
    settled = now - SETTLE
    return settled.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Refreshed:
    state_until: datetime
    rows: int
    moved: bool = False  # the watermark was written


def refresh_state(
    settings: Settings,
    sql: SqlRunner,
    warehouse: Warehouse,
    documents: DocumentStore,
    state_sql: str,
    now: datetime,
    *,
    keys: Collection[str] | None = None,
) -> Refreshed:
    """Bring the state table up to ``closed_until(now)`` for ``keys`` (the state SQL's
    aggregates, ``compiler.state_keys``); the new watermark and rows added."""
    digest = hashlib.sha256(state_sql.encode()).hexdigest()[:16]
    doc = documents.get(RUNS, STATE) or {}
    since, fresh = _since(doc, digest, keys)
    until = max(since, closed_until(now))
    rows: list[Row] = []
    if fresh and since > EPOCH:
        rows += sql.query(backfill_sql(state_sql), {"from": EPOCH, "until": since, "keys": fresh})
    if since < until:
        rows += sql.query(state_sql, {"from": since, "until": until})
    if until == since and not fresh:
        return Refreshed(since, 0)
    _insert(warehouse, settings.dataset(PROCESSED) + "." + TRAIT_STATE_TABLE, rows)
    held = {} if keys is None else {"keys": sorted(keys)}
    documents.set(
        RUNS, STATE, {"state_until": iso(until), "sql": digest, **held, "rows": len(rows)}
    )
    return Refreshed(until, len(rows), moved=True)


def backfill_sql(state_sql: str) -> str:
    """The state SQL's rows of the keys ``@keys`` only."""
    return f"SELECT * FROM (\n{state_sql}) WHERE trait_key IN UNNEST(@keys)\n"


def _since(
    doc: dict[str, Any], digest: str, keys: Collection[str] | None
) -> tuple[datetime, list[str]]:
    """Where the refresh starts, and the keys to back-fill from the beginning before it."""
    since = _parse(doc.get("state_until"))
    if keys is None:
        return (since if doc.get("sql") == digest else EPOCH), []
    held = doc.get("keys")
    return since, sorted(set(keys) - set(held if isinstance(held, list) else []))


def _insert(warehouse: Warehouse, table: str, rows: list[Row]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        chunk = rows[start : start + INSERT_BATCH]
        errors = warehouse.insert_rows(table, chunk, [str(r["state_id"]) for r in chunk])
        if errors:
            first = errors[0]
            raise StateRefused(
                REFUSED.format(n=len(errors), index=first.index, reason=first.reason)
            )


def _parse(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        return EPOCH
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
