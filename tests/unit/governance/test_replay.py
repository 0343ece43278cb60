"""Replay of blocked events: selection, the ledger, chunks, progress, and the ids and times kept
(with the real ``IngestHandler.reenter`` on the in-memory publisher)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.envelope import decode_push
from shared.errors import BackendUnavailable
from shared.governance.checks import Finding
from shared.governance.gate import Gate
from shared.governance.replay import (
    SKIP_DISABLED_SOURCE,
    SKIP_PII,
    SKIP_SUPPRESSED,
    SKIP_UNKNOWN_SOURCE,
    SKIP_UNREADABLE,
    Candidate,
    Replay,
    ReplayLedger,
    ReplaySettings,
    ReplayStopped,
    selects,
    skip_reason,
)
from shared.ingest.handler import IngestHandler, IngestResult
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.publisher import InMemoryPublisher
from shared.ports.warehouse import Row, SqlRunner
from shared.settings import Settings, Source
from shared.topology import EVENTS, FAILED_EVENTS
from shared.warehouse.tables import FAILED_EVENTS_TABLE, OPS
from tests.fakes import unit_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TABLE = unit_settings().table(OPS, FAILED_EVENTS_TABLE)


class FailedRows(SqlRunner):
    """The failed-events table: answers the replay's two queries from their parameters (the
    SQL itself runs on the BigQuery emulator, in the integration test)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.pages = 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        assert params is not None and f"`{TABLE}`" in sql
        after = (params["after_at"], params["after_id"])
        found = sorted(
            (
                r
                for r in self.rows
                if r["stage"] == params["stage"]
                and r.get("findings") is not None
                and r["recorded_at"] <= params["until"]
                and (r["recorded_at"], r["failed_id"]) > after
                and ("reason" not in params or re.search(params["reason"], r["findings"]))
            ),
            key=lambda r: (r["recorded_at"], r["failed_id"]),
        )
        if sql.startswith("SELECT COUNT(*)"):
            return [{"n": len(found)}]
        self.pages += 1
        limit = re.search(r"LIMIT (\d+)", sql)
        assert limit is not None
        return found[: int(limit.group(1))]


@dataclass
class Reentered:
    """A re-entry port: keeps what it was given; ``blocks`` messageIds come back failed."""

    blocks: set[str] = field(default_factory=set)
    suppresses: set[str] = field(default_factory=set)
    fail_after: int | None = None
    calls: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def reenter(self, source: Source, events: list[dict[str, Any]]) -> IngestResult:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise BackendUnavailable("publish failed (simulated outage)")
        self.calls.append((source.id, events))
        failed = sum(1 for e in events if e["messageId"] in self.blocks)
        suppressed = sum(1 for e in events if e["messageId"] in self.suppresses)
        return IngestResult(len(events) - failed - suppressed, failed, suppressed=suppressed)


def event(mid: str, source: str = "web") -> dict[str, Any]:
    return {
        "type": "track",
        "event": "transfer_sent",
        "messageId": mid,
        "sourceId": source,
        "timestamp": "2025-12-30T10:00:00.123Z",
        "receivedAt": "2025-12-30T10:00:01.456Z",
        "originalTimestamp": "2025-12-30T10:00:00.000Z",
        "properties": {"amount": 10},
    }


def failed(
    n: int,
    source: str = "web",
    kinds: tuple[str, ...] = ("missing_property",),
    payload: Any = None,
    stage: str = "ingest",
) -> Row:
    mid = f"{source}-{n}"
    findings = [{"kind": k, "event": "transfer_sent", "property": "", "detail": ""} for k in kinds]
    return {
        "failed_id": f"f-{source}-{n:05d}",
        "stage": stage,
        "source_id": source,
        "message_id": mid,
        "recorded_at": T0 + timedelta(seconds=n),
        "findings": json.dumps(findings) if kinds else None,
        "payload": json.dumps(event(mid, source)) if payload is None else payload,
    }


def replay_of(
    rows: list[Row],
    reentry: Reentered | None = None,
    documents: InMemoryDocumentStore | None = None,
    **config: Any,
) -> tuple[Replay, Reentered, FailedRows]:
    reentry = reentry or Reentered()
    sql = FailedRows(rows)
    clock = FakeClock(T0 + timedelta(days=1))
    ledger = ReplayLedger(documents or InMemoryDocumentStore(), clock)
    return (
        Replay(unit_settings(), sql, ledger, reentry, clock, ReplaySettings(**config)),
        reentry,
        sql,
    )


@pytest.mark.parametrize(
    ("kinds", "reason", "selected"),
    [
        (("missing_property",), None, True),
        (("missing_property",), "missing_property", True),
        (("missing_property", "wrong_type"), "wrong_type", True),
        (("missing_property",), "wrong_type", False),
        ((), None, False),  # refused by validation, not blocked by governance
        (("pii_card",), "pii_card", True),  # selected, then skipped (redacted payload)
    ],
)
def test_selects(kinds: tuple[str, ...], reason: str | None, selected: bool) -> None:
    assert selects(kinds, reason) is selected


SOURCES = {s.id: s for s in unit_settings().sources}


@pytest.mark.parametrize(
    ("kinds", "source", "payload", "why"),
    [
        (("missing_property",), "web", event("m"), None),
        (("wrong_type", "unplanned_property"), "backend", event("m"), None),
        (("pii_card",), "web", event("m"), SKIP_PII),
        (("missing_property", "pii_national_id"), "web", event("m"), SKIP_PII),
        (("missing_property",), "web", None, SKIP_UNREADABLE),
        (("missing_property",), "web", {"type": "track"}, SKIP_UNREADABLE),  # no messageId
        (("missing_property",), "gone", event("m"), SKIP_UNKNOWN_SOURCE),
        (("missing_property",), "old", event("m"), SKIP_DISABLED_SOURCE),
    ],
)
def test_skip_reason(
    kinds: tuple[str, ...], source: str, payload: dict[str, Any] | None, why: str | None
) -> None:
    assert skip_reason(Candidate("f", source, T0, kinds, payload), SOURCES) == why


def test_replays_oldest_first_in_chunks_per_source_reading_pages() -> None:
    rows = [failed(n, "web") for n in range(1, 251)] + [
        failed(n, "backend") for n in range(300, 310)
    ]
    replay, reentry, sql = replay_of(rows[::-1], page_size=100, chunk_size=40)
    report = replay.run()
    assert report.to_json()["replayed"] == 260 and report.total.selected == 260
    assert sql.pages == 3  # 260 rows, 100 a page: never all at once
    assert max(len(events) for _, events in reentry.calls) <= 40
    web = [e["messageId"] for s, events in reentry.calls if s == "web" for e in events]
    assert web == [f"web-{n}" for n in range(1, 251)]
    assert {s for s, _ in reentry.calls} == {"web", "backend"}
    assert report.to_json()["by_source"]["backend"]["replayed"] == 10


def test_the_events_reach_reentry_as_stored() -> None:
    replay, reentry, _ = replay_of([failed(1)])
    replay.run()
    [(source, [sent])] = reentry.calls
    assert source == "web" and sent == event("web-1")


def test_a_second_replay_does_nothing() -> None:
    documents = InMemoryDocumentStore()
    rows = [failed(n) for n in range(1, 6)]
    first, _, _ = replay_of(rows, documents=documents)
    assert first.run().total.replayed == 5
    again, reentry_again, _ = replay_of(rows, documents=documents)
    report = again.run()
    assert reentry_again.calls == []
    assert (report.total.selected, report.total.already_replayed, report.total.replayed) == (
        5,
        5,
        0,
    )
    assert {d["message_id"] for _, d in documents.list("replays")} == {
        f"web-{n}" for n in range(1, 6)
    }


def test_blocked_again_is_counted_and_its_old_row_marked_replayed() -> None:
    documents = InMemoryDocumentStore()
    replay, _, _ = replay_of([failed(1), failed(2)], Reentered(blocks={"web-2"}), documents)
    report = replay.run()
    assert (report.total.replayed, report.total.blocked_again) == (1, 1)
    assert {d["failed_id"] for _, d in documents.list("replays")} == {"f-web-00001", "f-web-00002"}


def test_suppressed_on_reentry_is_skipped_and_not_replayed_again() -> None:
    documents = InMemoryDocumentStore()
    replay, _, _ = replay_of([failed(1)], Reentered(suppresses={"web-1"}), documents)
    report = replay.run()
    assert report.total.skipped == 1 and report.skipped_why == {SKIP_SUPPRESSED: 1}
    assert len(documents.list("replays")) == 1


def test_reason_since_and_what_is_never_replayed() -> None:
    rows = [
        failed(1, kinds=("missing_property",)),
        failed(2, kinds=("wrong_type", "unplanned_property")),
        failed(3, kinds=("pii_card",)),
        failed(4, "old"),
        failed(5, "gone"),
        failed(6, payload="not json"),
        failed(7, kinds=()),  # a validation refusal: no findings
        failed(8, stage="warehouse"),
        failed(9, kinds=("wrong_type",)),
    ]
    replay, reentry, _ = replay_of(rows)
    report = replay.run()
    assert [e["messageId"] for _, es in reentry.calls for e in es] == ["web-1", "web-2", "web-9"]
    assert report.total.selected == 7 and report.total.skipped == 4
    assert report.skipped_why == {
        SKIP_PII: 1,
        SKIP_DISABLED_SOURCE: 1,
        SKIP_UNKNOWN_SOURCE: 1,
        SKIP_UNREADABLE: 1,
    }
    by_reason, reentry, _ = replay_of(rows)
    assert by_reason.run(reason="wrong_type").total.replayed == 2
    assert [e["messageId"] for _, es in reentry.calls for e in es] == ["web-2", "web-9"]
    since, reentry, _ = replay_of(rows)
    since.run(reason="wrong_type", since=T0 + timedelta(seconds=9))
    assert [e["messageId"] for _, es in reentry.calls for e in es] == ["web-9"]


def test_rows_written_after_the_start_wait_for_the_next_replay() -> None:
    replay, _, sql = replay_of([failed(1)])
    sql.rows.append(failed(1, "backend") | {"recorded_at": T0 + timedelta(days=2)})
    assert replay.run().total.selected == 1


def test_dry_run_publishes_nothing_writes_no_ledger_and_counts_by_kind_and_source() -> None:
    documents = InMemoryDocumentStore()
    rows = [failed(1), failed(2, "backend", ("wrong_type", "missing_property")), failed(3, "old")]
    replay, reentry, _ = replay_of(rows, documents=documents)
    report = replay.run(dry_run=True)
    assert reentry.calls == [] and documents.list("replays") == []
    out = report.to_json()
    assert (out["selected"], out["replayed"], out["skipped"], out["dry_run"]) == (3, 2, 1, True)
    assert out["by_kind"] == {"missing_property": 2, "wrong_type": 1}
    assert out["by_source"]["backend"]["replayed"] == 1 and out["by_source"]["old"]["skipped"] == 1


def test_progress_every_n_events() -> None:
    seen: list[tuple[int, int]] = []
    replay, _, _ = replay_of(
        [failed(n) for n in range(1, 1201)], page_size=300, chunk_size=100, progress_every=500
    )
    replay.run(progress=lambda done, total, _: seen.append((done, total)))
    assert seen == [(500, 1200), (1000, 1200)]


def test_an_outage_stops_with_the_counts_and_the_next_run_carries_on() -> None:
    documents = InMemoryDocumentStore()
    rows = [failed(n) for n in range(1, 251)]
    replay, _, _ = replay_of(rows, Reentered(fail_after=2), documents, chunk_size=100)
    with pytest.raises(ReplayStopped) as stopped:
        replay.run()
    assert stopped.value.report.total.replayed == 200
    again, reentry, _ = replay_of(rows, documents=documents)
    report = again.run()
    assert (report.total.replayed, report.total.already_replayed) == (50, 200)
    assert reentry.calls[0][1][0]["messageId"] == "web-201"


# With the real re-entry: the ids and times the event was accepted with are the ones published.


@dataclass(frozen=True)
class _Plan:
    """A plan that blocks ``missing_property`` on ``blocking`` sources, on a test's say."""

    blocking: frozenset[str]
    version: int = 2

    def modes_for(self, source_id: str) -> Mapping[str, str]:
        return {"missing_property": "block"} if source_id in self.blocking else {}


def _missing_currency(plan: Any, event: Mapping[str, Any], source_kind: str) -> list[Finding]:
    missing = "currency" not in event.get("properties", {})
    return [Finding("missing_property", str(event.get("event")), "currency")] if missing else []


def _handler(settings: Settings, blocking: set[str]) -> tuple[IngestHandler, InMemoryPublisher]:
    publisher = InMemoryPublisher()
    gate = Gate(plan=_Plan(frozenset(blocking)), check=_missing_currency)
    return IngestHandler(settings, publisher, FakeClock(T0), gate=gate), publisher


def _published(publisher: InMemoryPublisher, topic: str) -> list[dict[str, Any]]:
    import base64

    return [
        e
        for m in publisher.on(topic)
        for e in decode_push({"message": {"data": base64.b64encode(m.data).decode()}}).events
    ]


def test_reentered_events_keep_message_id_received_at_timestamp_and_source() -> None:
    settings = unit_settings()
    handler, publisher = _handler(settings, blocking=set())
    clock = FakeClock(T0 + timedelta(days=1))
    ledger = ReplayLedger(InMemoryDocumentStore(), clock)
    rows = [failed(1), failed(2, "backend")]
    report = Replay(settings, FailedRows(rows), ledger, handler, clock).run()
    assert report.total.replayed == 2
    out = {e["messageId"]: e for e in _published(publisher, EVENTS)}
    for mid, source in (("web-1", "web"), ("backend-2", "backend")):
        original = event(mid, source)
        for key in ("messageId", "receivedAt", "timestamp", "originalTimestamp", "sourceId"):
            assert out[mid][key] == original[key]
    assert {m.attributes["source_id"] for m in publisher.on(EVENTS)} == {"web", "backend"}


def test_blocked_again_by_the_current_plan_goes_back_to_failed_events() -> None:
    settings = unit_settings()
    handler, publisher = _handler(settings, blocking={"web"})
    clock = FakeClock(T0 + timedelta(days=1))
    replay = Replay(
        settings,
        FailedRows([failed(1)]),
        ReplayLedger(InMemoryDocumentStore(), clock),
        handler,
        clock,
    )
    assert replay.run().total.blocked_again == 1
    assert publisher.on(EVENTS) == []
    [back] = _published(publisher, FAILED_EVENTS)
    assert back["messageId"] == "web-1" and json.loads(back["payload"]) == event("web-1")
    assert [f["kind"] for f in back["findings"]] == ["missing_property"]


def test_the_command_prints_json_and_progress(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from shared.bootstrap import bootstrap
    from shared.cli import main
    from tests.fakes import installed

    rows = [failed(n) for n in range(1, 601)] + [failed(700, kinds=("pii_card",))]
    publisher = InMemoryPublisher()
    built = bootstrap(
        unit_settings(),
        clock=FakeClock(T0 + timedelta(days=1)),
        publisher=publisher,
        documents=InMemoryDocumentStore(),
        sql=FailedRows(rows),
    )
    stack = str(tmp_path / "none.json")
    with installed(built):
        assert main(["failed-events", "replay", "--dry-run", "--stack", stack]) == 0
        dry = capsys.readouterr()
        assert publisher.messages == []
        assert main(["failed-events", "replay", "--json", "--stack", stack]) == 0
        out = capsys.readouterr()
    assert "601 selected: 600 would replay, 0 blocked again, 1 skipped" in dry.out
    assert "would replay 500/601" in dry.err
    assert "replayed 500/601 (0 blocked again, 0 skipped, 0 already replayed)" in out.err
    report = json.loads(out.out)
    assert {k: report[k] for k in ("selected", "replayed", "skipped", "already_replayed")} == {
        "selected": 601,
        "replayed": 600,
        "skipped": 1,
        "already_replayed": 0,
    }
    assert report["by_source"]["web"]["replayed"] == 600
    assert len(publisher.on(EVENTS)) == 6  # 100 events a message
