"""``cdp audiences``: arguments, exit codes and output shapes, on fakes (a SqlRunner of canned
rows; the SQL itself runs in the emulator tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.audiences.definitions import load_definitions
from shared.audiences.run import LATEST
from shared.audiences.state import RUNS
from shared.bootstrap import Services, use_services
from shared.cli import main
from shared.cli.audiences import members_of, run_lines
from shared.ports.clock import FakeClock
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from tests.fakes import fake_services, unit_settings

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SHIPPED = ("activated_incomplete", "funded_dormant", "active_core", "direct_deposit", "churn_risk")


class CannedSql(SqlRunner):
    """The rows of the first marker found in a query; no rows for any other query."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.answers = answers or {}
        self.queries: list[tuple[str, dict[str, Any]]] = []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries.append((sql, dict(params or {})))
        for marker, rows in self.answers.items():
            if marker in sql:
                return [dict(r) for r in rows]
        return []


@pytest.fixture
def sql() -> CannedSql:
    return CannedSql()


def services_with(sql: CannedSql, settings: Settings | None = None) -> Services:
    return replace(fake_services(settings, FakeClock(NOW)), sql=sql)


@pytest.fixture
def s(sql: CannedSql) -> Iterator[Services]:
    services = services_with(sql)
    use_services(services)
    yield services
    use_services(None)


def cdp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audiences", *argv, "--stack", "/nonexistent/stack.json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_time_that_is_not_one_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cdp(capsys, "run", "--as-of", "yesterday")
    assert exited.value.code == 2
    assert "expected a date or time" in capsys.readouterr().err


def test_an_as_of_in_the_future_is_refused(s: Services, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cdp(capsys, "run", "--as-of", (NOW + timedelta(hours=1)).isoformat())
    assert (code, out) == (2, "")
    assert "in the future" in err


def test_a_past_run_reports_its_sizes_and_emits_nothing(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "run", "--as-of", "2026-11-01T00:00:00Z", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["emitted"] is False and report["events_emitted"] == 0
    assert report["sizes"] == dict.fromkeys(SHIPPED, 0)
    assert report["as_of"].startswith("2026-11-01T00:00:00")


def test_the_run_for_people_is_a_line_per_audience_then_the_writes() -> None:
    lines = run_lines(
        {
            "as_of": "2026-11-20T10:00:00+00:00", "emitted": True,
            "sizes": {"active_core": 1200, "churn_risk": 3},
            "entered": {"active_core": 15}, "exited": {"churn_risk": 2},
            "profiles_written": 17, "events_emitted": 34,
        }
    )  # fmt: skip
    assert lines[0] == "audiences as of 2026-11-20T10:00:00+00:00 (present run)"
    assert lines[1].split() == ["active_core", "1,200", "+15", "-0"]
    assert lines[2].split() == ["churn_risk", "3", "+0", "-2"]
    assert lines[3] == "profiles written: 17, events emitted: 34"


def test_list_before_any_run_has_no_sizes_and_each_definition(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "list", "--json")
    assert code == 0
    found = json.loads(out)
    assert [a["key"] for a in found] == list(SHIPPED)
    assert all(a["size"] is None and a["last_run"] is None for a in found)
    churn = found[-1]
    assert churn["name"] and churn["definition"]["high_value_threshold"] == 500
    assert churn["definition"]["rule"]["all"][1] == {
        "event": "transaction_completed", "within": "21d", "never": True
    }  # fmt: skip


def test_list_takes_sizes_and_time_from_the_last_run_record(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {"as_of": "2026-11-20T09:00:00+00:00", "finished_at": "2026-11-20T09:01:30+00:00",
              "sizes": {"active_core": 7, "churn_risk": 0}}  # fmt: skip
    s.documents.set(RUNS, LATEST, record)
    found = {a["key"]: a for a in json.loads(cdp(capsys, "list", "--json")[1])}
    assert (found["active_core"]["size"], found["churn_risk"]["size"]) == (7, 0)
    assert found["active_core"]["last_run"] == "2026-11-20T09:01:30+00:00"
    assert (found["direct_deposit"]["size"], found["direct_deposit"]["last_run"]) == (None, None)
    _, text, _ = cdp(capsys, "list")
    assert "last run never" in text.splitlines()[0] and "7" in text.splitlines()[2]


def test_members_of_an_unknown_audience_names_the_known_ones(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cdp(capsys, "members", "whales")
    assert (code, out) == (2, "")
    assert "'whales'" in err and all(k in err for k in SHIPPED)


def test_members_are_one_entry_per_profile_with_its_user_ids(
    sql: CannedSql, s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    sql.answers["audience_memberships"] = [
        {"profile_id": "p1", "member_user_id": "u1", "user_id": "u1"},
        {"profile_id": "p1", "member_user_id": "u1", "user_id": "u1-work"},
        {"profile_id": "p2", "member_user_id": None, "user_id": None},
    ]
    code, out, _ = cdp(capsys, "members", "active_core", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"profile_id": "p1", "user_ids": ["u1", "u1-work"]},
        {"profile_id": "p2", "user_ids": []},
    ]
    query, params = sql.queries[-1]
    assert params == {"key": "active_core", "lineage": "present"} and "exited_at IS NULL" in query
    assert "`cdp-unit.cdp_curated.identity_map`" in query
    _, text, _ = cdp(capsys, "members", "active_core")
    assert text.splitlines() == ["p1  u1, u1-work", "p2  (no userId)", "2 member(s) of active_core"]


def test_no_members_is_an_empty_answer(s: Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert cdp(capsys, "members", "churn_risk", "--json")[:2] == (0, "[]\n")
    assert cdp(capsys, "members", "churn_risk")[1] == "0 member(s) of churn_risk\n"


def test_a_member_merged_away_keeps_the_user_id_it_was_stored_with() -> None:
    rows = [{"profile_id": "p9", "member_user_id": "u9", "user_id": None}]
    assert members_of(rows) == [{"profile_id": "p9", "user_ids": ["u9"]}]


PREVIEW = """
audiences:
  big_spenders:
    name: Big spenders
    owner: growth
    description: Over 1,000 in completed transactions in 30 days.
    rule: {trait: transaction_volume_30d, op: gt, value: 1000}
  dormant_big_spenders:
    name: Dormant big spenders
    owner: growth
    description: Big spenders now funded but dormant.
    rule: {all: [{audience: big_spenders}, {audience: funded_dormant}]}
"""


def test_preview_counts_each_audience_of_the_file_over_the_shipped_ones(
    sql: CannedSql, s: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.yaml"
    path.write_text(PREVIEW)
    sql.answers["COUNTIF"] = [{"a_big_spenders": 12, "a_dormant_big_spenders": 3}]
    code, out, _ = cdp(capsys, "preview", str(path), "--json")
    assert code == 0
    assert json.loads(out) == [
        {"key": "big_spenders", "name": "Big spenders", "size": 12, "as_of": NOW.isoformat()},
        {"key": "dormant_big_spenders", "name": "Dormant big spenders", "size": 3,
         "as_of": NOW.isoformat()},
    ]  # fmt: skip
    [(query, params)] = sql.queries
    assert params == {"as_of": NOW}
    assert "COUNTIF(a_big_spenders) AS a_big_spenders" in query
    assert "@state_until" not in query  # the whole history, not the state table
    assert s.documents.get(RUNS, LATEST) is None and s.publisher.messages == []  # type: ignore[attr-defined]


def test_preview_of_an_invalid_file_prints_the_errors(
    s: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(PREVIEW.replace("{audience: funded_dormant}", "{audience: nobody}"))
    code, out, err = cdp(capsys, "preview", str(path))
    assert (code, out) == (2, "")
    assert "nobody" in err and str(path) in err


@pytest.mark.parametrize(
    ("text", "said"),
    [(None, "cannot read"), ("audiences: [1, 2", "not YAML"), ("- a list", "mapping")],
)
def test_preview_of_a_file_that_is_not_definitions_is_an_error(
    s: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | None, said: str
) -> None:
    path = tmp_path / "file.yaml"
    if text is not None:
        path.write_text(text)
    code, _, err = cdp(capsys, "preview", str(path))
    assert code == 2 and said in err


@pytest.mark.parametrize("text", ["traits: {}\n", ""])
def test_preview_of_a_file_with_no_audiences_is_an_empty_answer(
    sql: CannedSql, s: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "traits.yaml"
    path.write_text(text)
    assert cdp(capsys, "preview", str(path), "--json")[:2] == (0, "[]\n")
    assert sql.queries == []


SOURCES = """
version: 1
sql_sources:
  crm:
    owner: growth
    description: Plans from the CRM export.
    sql: "SELECT user_id, plan FROM `{processed}.crm`"
    identity: {column: user_id, type: user_id}
"""


def test_sql_sources_with_none_defined_is_an_empty_report(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "sql-sources", "--json")
    assert (code, json.loads(out)) == (0, {"dry_run": False, "sources": {}})
    assert cdp(capsys, "sql-sources")[1] == "no SQL sources defined\n"


def test_sql_sources_dry_run_reports_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text(SOURCES)
    sql = CannedSql({"crm": [{"user_id": "u1", "plan": "pro"}, {"user_id": "", "plan": "x"}]})
    services = services_with(sql, unit_settings(audience_definitions=str(path)))
    use_services(services)
    try:
        code, out, _ = cdp(capsys, "sql-sources", "--dry-run")
    finally:
        use_services(None)
    assert code == 0
    assert out.splitlines() == [
        "crm: 2 row(s), would emit 1, unchanged 0, skipped 1, failed 0",
        "  skipped: empty identity (user_id): 1",
    ]
    assert services.publisher.messages == []  # type: ignore[attr-defined]


def test_definitions_that_do_not_load_are_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("audiences: {Bad Key: {}}\n")
    use_services(services_with(CannedSql(), unit_settings(audience_definitions=str(path))))
    try:
        code, out, err = cdp(capsys, "list")
    finally:
        use_services(None)
    assert (code, out) == (2, "")
    assert "do not load" in err and str(path) in err


def test_the_shipped_definitions_load() -> None:
    assert list(load_definitions().audiences) == list(SHIPPED)


def test_as_of_runs_work_in_any_order_each_a_lineage_of_its_own(
    s: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cdp(capsys, "run", "--as-of", "2026-11-10")[0] == 0
    code, out, _ = cdp(capsys, "run", "--as-of", "2026-11-09")
    assert code == 0 and "as-of run: no events emitted" in out


def test_a_present_run_for_people(s: Services, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cdp(capsys, "run")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("(present run)")
    assert [line.split()[0] for line in lines[1:-1]] == list(SHIPPED)
    assert lines[-1] == "profiles written: 0, events emitted: 0"
