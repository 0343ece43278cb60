"""Small fakes for privacy requests: a SQL runner that answers from a script (and raises
BigQuery's streaming-buffer refusal when told to), deleters, and a person with a merge."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc

from shared.destinations.deletion import DeletionOutcome
from shared.identity.profiles import ProfileRepository
from shared.ports.documents import DocumentStore
from shared.ports.http import HttpSender
from shared.ports.warehouse import SqlRunner

BUFFER_ERROR = (
    "UPDATE or DELETE statement over table cdp-unit.cdp_raw.events would affect rows in the "
    "streaming buffer, which is not supported"
)
TABLE = re.compile(r"FROM `[^.]+\.([^`]+)`")


@dataclass
class ScriptedSql(SqlRunner):
    """Counts come from ``rows`` (dataset.table → the person's rows there); a DELETE empties
    them, unless ``buffered`` says how many more DELETEs of that table BigQuery refuses."""

    rows: dict[str, int] = field(default_factory=dict)
    buffered: dict[str, int] = field(default_factory=dict)
    identity_map: list[dict[str, str]] = field(default_factory=list)
    calls: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append((sql, dict(params or {})))
        table = TABLE.search(sql)
        name = table.group(1) if table else ""
        if "identity_map" in sql:
            return list(self.identity_map)
        if sql.startswith("DELETE"):
            if self.buffered.get(name, 0) > 0:
                self.buffered[name] -= 1
                raise gexc.BadRequest(BUFFER_ERROR)  # type: ignore[no-untyped-call]
            self.rows[name] = 0
            return []
        return [{"n": self.rows.get(name, 0)}]

    def deletes(self) -> list[str]:
        return [sql for sql, _ in self.calls if sql.startswith("DELETE")]


@dataclass
class FakeDeleter:
    name: str
    answers: list[str] = field(default_factory=lambda: ["requested"])
    asked: list[Mapping[str, Sequence[str]]] = field(default_factory=list)

    def delete(self, identifiers: Mapping[str, Sequence[str]], http: HttpSender) -> DeletionOutcome:
        self.asked.append(identifiers)
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return DeletionOutcome(self.name, status, f"{self.name} said {status}", "job-1")


def person_with_a_merge(store: DocumentStore) -> ProfileRepository:
    """Ada browses on the web (a1), signs in on her phone (a2, u1), then signs in on the web:
    two profiles merged. Bob (u9) is someone else."""
    repo = ProfileRepository(store)
    for event in (
        {"type": "page", "messageId": "m1", "anonymousId": "a1",
         "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "identify", "messageId": "m2", "anonymousId": "a2", "userId": "u1",
         "traits": {"email": "Ada@Example.com"}, "timestamp": "2026-01-01T00:01:00Z",
         "context": {"device": {"id": "DEV-1"}}},
        {"type": "track", "event": "x", "messageId": "m3", "anonymousId": "a1", "userId": "u1",
         "timestamp": "2026-01-01T00:02:00Z"},
        {"type": "identify", "messageId": "m9", "anonymousId": "b1", "userId": "u9",
         "traits": {"email": "bob@example.com"}, "timestamp": "2026-01-01T00:03:00Z"},
    ):  # fmt: skip
        repo.record(event)
    return repo
