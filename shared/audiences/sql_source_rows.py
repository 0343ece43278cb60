"""From one row of a SQL source's query to the identify call it stands for, or why it has none.

Pure: no I/O. The messageId is a hash of what the call says (source key, identity, traits as
canonical JSON), so an unchanged row gives the same id run after run and the ledger can tell it
was sent. It also folds in the id the ledger last sent for that identity, when there is one: a
row that goes A, B, then A again would otherwise reuse A's id for the third call, and every
dedup downstream (ingest, the warehouse, the destinations: all by messageId) would drop it as a
repeat, leaving B in place. A retry after a crash between publish and ledger write sees the
same ledger and so makes the same id again, which dedup then absorbs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.audiences.names import INTERNAL_SOURCE_PREFIX
from shared.audiences.values import json_safe
from shared.ingest.events import iso
from shared.settings import Settings, Source

LIBRARY = {"name": "cdp-sql-sources", "version": 1}
ID_FIELD = {"user_id": "userId", "anonymous_id": "anonymousId"}
EMPTY_IDENTITY = "empty identity ({column})"
NO_IDENTITY_COLUMN = "no column {column} in the query's rows"
REPEATED_IDENTITY = "identity repeated in the query's rows (the first row is used)"
SUPPRESSED = "suppressed (a privacy request's person)"
# `{processed}` in a source's SQL is the processed layer's dataset, `project.<prefix>_processed`
# (and so for each layer), so one definition runs on any project and dataset prefix.
LAYER = re.compile(r"\{(raw|processed|curated|events|ops)\}")


def source_of(key: str) -> Source:
    """The internal source a SQL source's calls come from (no write key: nothing posts as it)."""
    return Source(
        id=f"{INTERNAL_SOURCE_PREFIX}{key}",
        name=f"SQL source {key}",
        kind="internal",
        write_key_sha256="",
    )


def expand(sql: str, settings: Settings) -> str:
    """The source's SQL with each ``{layer}`` named as the settings name its dataset."""
    return LAYER.sub(lambda m: f"{settings.project_id}.{settings.dataset(m.group(1))}", sql)


def canonical(traits: Mapping[str, Any]) -> str:
    return json.dumps(traits, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def message_id(key: str, identity: str, traits: Mapping[str, Any], previous: str = "") -> str:
    """``sql-`` and 32 hex digits of sha256(key|identity|canonical traits), with ``|previous``
    appended when the ledger holds an earlier id for this identity (see the module's doc)."""
    text = f"{key}|{identity}|{canonical(traits)}"
    if previous:
        text += f"|{previous}"
    return "sql-" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Row:
    """A query row read: its identity and traits, or why it has none (``skip``)."""

    identity: str = ""
    traits: dict[str, Any] | None = None
    skip: str = ""


def read_row(row: Mapping[str, Any], column: str, traits: Sequence[str] | None) -> Row:
    """The identity from ``column`` (as text; empty or blank: skipped) and the traits from
    ``traits`` (default: every other column), JSON-safe."""
    if column not in row:
        return Row(skip=NO_IDENTITY_COLUMN.format(column=column))
    raw = row[column]
    identity = "" if raw is None else str(json_safe(raw))
    if not identity.strip():
        return Row(skip=EMPTY_IDENTITY.format(column=column))
    names = list(traits) if traits is not None else [c for c in row if c != column]
    return Row(identity, {name: json_safe(row.get(name)) for name in names})


def identify(
    source: Source,
    identity_type: str,
    identity: str,
    traits: Mapping[str, Any],
    mid: str,
    now: datetime,
) -> dict[str, Any]:
    """The identify call, as ingest would have enriched it (reenter takes events that far)."""
    at = iso(now)
    return {
        "type": "identify",
        "messageId": mid,
        ID_FIELD[identity_type]: identity,
        "traits": dict(traits),
        "timestamp": at,
        "receivedAt": at,
        "context": {"library": dict(LIBRARY)},
        "sourceId": source.id,
        "sourceName": source.name,
    }
