"""``cdp plan lint|diff|violations`` through a parser of their own (``plan.register``), the
violations read from a recording SQL runner."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.cli import plan
from shared.errors import SetupError
from shared.governance.plan import PLAN_PATH
from shared.ports.clock import FakeClock
from shared.ports.warehouse import SqlRunner
from tests.fakes import fake_services, installed

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
ROWS = [
    {
        "hour": datetime(2026, 3, 2, 11, tzinfo=UTC),
        "source_id": "web",
        "event": "kyc_started",
        "kind": "missing_property",
        "property": "session_id",
        "plan_version": 2,
        "mode": "flag",
        "count": 17,
    },
    {
        "hour": datetime(2026, 3, 2, 10, tzinfo=UTC),
        "source_id": "backend",
        "event": "transaction_succeeded",
        "kind": "deprecated_event",
        "property": "",
        "plan_version": 2,
        "mode": "block",
        "count": 3,
    },
]


class RecordingSql(SqlRunner):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[tuple[str, Mapping[str, Any]]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries.append((sql, dict(params or {})))
        return self.rows


def cdp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cdp")
    plan.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def sql() -> Iterator[RecordingSql]:
    services: Services = fake_services(clock=FakeClock(NOW))
    services.sql = RecordingSql(ROWS)
    with installed(services):
        yield services.sql


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_lint_passes_the_shipped_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cdp(capsys, "plan", "lint")
    assert code == 0 and out.strip() == f"{PLAN_PATH}: 0 error(s), 0 warning(s)"


def test_lint_fails_on_an_error_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", "events: {a: {status: deprecated}}")
    code, out, _ = cdp(capsys, "plan", "lint", "--plan", bad)
    assert code == 1
    assert out.splitlines() == [
        "error    events.a: deprecated without a replacement note",
        "warning  events.a: no owner",
        "warning  events.a: no description",
        f"{bad}: 1 error(s), 2 warning(s)",
    ]
    code, out, _ = cdp(capsys, "plan", "lint", "--plan", bad, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and len(report["issues"]) == 3


def test_lint_of_warnings_only_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = cdp(capsys, "plan", "lint", "--plan", write(tmp_path, "p.yaml", "events: {a: {}}"))
    assert code == 0


def test_diff_exits_1_on_a_breaking_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.yaml", "version: 1\nevents: {a: {}, b: {}}")
    new = write(tmp_path, "new.yaml", "version: 1\nevents: {a: {}, c: {}}")
    code, out, err = cdp(capsys, "plan", "diff", old, new)
    assert code == 1
    assert out.splitlines() == [
        "breaking   events.b: event removed",
        "compatible events.c: event added (active)",
        "1 breaking, 1 compatible change(s)",
    ]
    assert "version did not go up (1 → 1)" in err
    code, out, _ = cdp(capsys, "plan", "diff", old, new, "--json")
    assert code == 1 and json.loads(out)["breaking"] is True


def test_diff_of_compatible_changes_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = write(
        tmp_path, "new.yaml", PLAN_PATH.read_text().replace("version: 2", "version: 3") + "\n"
    )
    code, out, err = cdp(capsys, "plan", "diff", str(PLAN_PATH), new)
    assert (code, out.strip(), err) == (0, "0 breaking, 0 compatible change(s)", "")


def test_diff_of_a_plan_that_does_not_load_is_a_setup_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", "events: {a: [")
    with pytest.raises(SetupError, match="does not load"):
        cdp(capsys, "plan", "diff", str(PLAN_PATH), bad)
    with pytest.raises(SetupError, match="cannot read"):
        cdp(capsys, "plan", "diff", str(PLAN_PATH), str(tmp_path / "missing.yaml"))


def test_violations_reads_the_view_since_a_day_ago(
    sql: RecordingSql, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "plan", "violations", "--stack", "/nonexistent/stack.json")
    [(query, params)] = sql.queries
    assert code == 0 and "FROM `cdp-unit.cdp_ops.violations`" in query
    assert "WHERE hour >= @since" in query
    assert params == {"since": datetime(2026, 3, 1, 12, tzinfo=UTC)}
    lines = out.splitlines()
    assert lines[0].split() == [
        "2026-03-02T11:00:00+00:00",
        "web",
        "kyc_started",
        "missing_property",
        "session_id",
        "v2",
        "flag",
        "17",
    ]
    assert lines[1].split()[4] == "-"  # no property
    assert lines[-1] == "20 violation(s) since 2026-03-01T12:00:00+00:00"


def test_violations_since_and_json(sql: RecordingSql, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cdp(
        capsys,
        "plan",
        "violations",
        "--since",
        "2026-02-01",
        "--json",
        "--stack",
        "/nonexistent/stack.json",
    )
    assert code == 0 and sql.queries[0][1] == {"since": datetime(2026, 2, 1, tzinfo=UTC)}
    rows = json.loads(out)
    assert [r["count"] for r in rows] == [17, 3] and rows[0]["hour"].startswith("2026-03-02 11")


def test_violations_refuses_a_since_that_is_no_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cdp(capsys, "plan", "violations", "--since", "last tuesday")
