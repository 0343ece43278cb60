"""The privacy function: Segment's regulations API shape, clear 400s, status to poll, the
resume schedule; and the CLI's output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.bootstrap import Services, bootstrap
from shared.cli import privacy as privacy_cli
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from shared.ports.publisher import InMemoryPublisher
from shared.ports.subscriber import InMemorySubscriber
from shared.ports.warehouse import InMemoryWarehouse
from tests.fakes import client, installed, unit_settings
from tests.unit.governance.privacy_fakes import ScriptedSql, person_with_a_merge


@pytest.fixture
def services() -> Iterator[Services]:
    store = InMemoryDocumentStore()
    person_with_a_merge(store)
    built = bootstrap(
        unit_settings(pii_hash_key="k"),
        clock=FakeClock(),
        publisher=InMemoryPublisher(),
        documents=store,
        warehouse=InMemoryWarehouse(),
        sql=ScriptedSql(),
        http=FakeHttpSender(),
        subscriber=InMemorySubscriber(),
    )
    with installed(built):
        yield built


def main(argv: list[str]) -> int:
    """``cdp`` with only the privacy group (the group's own parser)."""
    import argparse

    parser = argparse.ArgumentParser(prog="cdp")
    privacy_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


BODY = {"regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID", "subjectIds": ["u1"]}


def test_create_then_poll(services: Services) -> None:
    app = client("privacy")
    created = app.post("/v1/regulations", json=BODY)
    assert created.status_code == 200
    regulate_id = created.get_json()["data"]["regulateId"]
    polled = app.get(f"/v1/regulations/{regulate_id}")
    regulation = polled.get_json()["data"]["regulation"]
    assert regulation["id"] == regulate_id
    assert regulation["overallStatus"] == "FINISHED" and regulation["status"] == "done"
    assert regulation["regulateType"] == "SUPPRESS_WITH_DELETE"
    assert regulation["subjectType"] == "USER_ID"
    assert {s["name"] for s in regulation["steps"]} >= {"suppress", "firestore:profiles"}
    assert app.get("/v1/regulations/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**BODY, "regulationType": "DELETE_EVERYTHING"}, "regulationType must be one of"),
        ({**BODY, "subjectType": "OBJECT_ID"}, "OBJECT_ID is not supported"),
        ({**BODY, "subjectType": None}, "subjectType must be"),
        ({**BODY, "subjectIds": []}, "subjectIds must be a list"),
        ({**BODY, "subjectIds": ["u1", 7]}, "subjectIds must be a list"),
        ({**BODY, "subjectType": "EMAIL", "subjectIds": ["not-an-email"]}, "not an identifier"),
        ([1, 2], "Send a JSON object"),
    ],
)
def test_wrong_input_is_a_clear_400(services: Services, body: Any, says: str) -> None:
    answer = client("privacy").post("/v1/regulations", json=body)
    assert answer.status_code == 400
    assert says in answer.get_json()["message"]


def test_routes_and_the_resume_job(services: Services) -> None:
    app = client("privacy")
    assert app.get("/v1/regulations").status_code == 405
    assert app.post("/elsewhere", json={}).status_code == 404
    resumed = app.post("/", json={"job": "privacy-requests"})
    assert resumed.status_code == 200 and resumed.get_json()["resumed"] == 0
    assert app.post("/", json={"job": "other"}).status_code == 404


def test_cli_delete_status_verify(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    stack = ["--stack", "/nonexistent/stack.json"]
    assert main(["privacy", "delete", "--user-id", "u1", "--json", *stack]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["request_id"]
    assert main(["privacy", "status", out["request_id"], "--json", *stack]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["type"] == "SUPPRESS_WITH_DELETE" and status["trail"]
    assert main(["privacy", "status", out["request_id"], *stack]) == 0
    assert "firestore:profiles" in capsys.readouterr().out
    assert main(["privacy", "verify", out["request_id"], *stack]) == 0
    assert capsys.readouterr().out.startswith("clean")
    assert main(["privacy", "suppress", "email:ada@example.com", *stack]) == 0
    assert main(["privacy", "delete", "nonsense", *stack]) == 1
    assert main(["privacy", "status", "missing", *stack]) == 1
