"""`cdp profile get|explain|unmerge` on services built on fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.bootstrap import Services
from shared.cli import main
from shared.identity.changes import IdentityChange
from shared.ports.publisher import InMemoryPublisher
from shared.topology import IDENTITY_CHANGES
from tests.fakes import fake_services, installed
from tests.unit.identity.helpers import journey


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = fake_services()
    for event in journey():
        built.identity.profiles.record(event)
    with installed(built):
        yield built


def cdp(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--stack", "/nonexistent/stack.json"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_get_prints_the_resolved_profile(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "profile", "get", "anonymous_id:bbb-bbb-bbb", "--json")
    profile = json.loads(out)
    assert code == 0 and profile["identifiers"]["user_id"] == ["97980cfea0067"]
    assert "evidence" not in profile


def test_explain_prints_the_journey_step_by_step(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(capsys, "profile", "explain", "anonymous_id:bbb-bbb-bbb")
    lines = out.splitlines()
    assert code == 0 and "why anonymous_id:bbb-bbb-bbb is this person" in lines[0]
    steps = [line for line in lines if line.startswith("  ") and ". 2026" in line]
    assert [s.split("evidence=")[1].split(":")[0] for s in steps] == [
        "m1-desktop-visit",
        "m2-newsletter",
        "m3-mobile-install",
        "m4-signup",
        "m5-mobile-login",
    ]
    assert (
        "  anonymous_id:aaa-aaa-aaa: anonymous_id:bbb-bbb-bbb → [m5-mobile-login] "
        "user_id:97980cfea0067 → [m4-signup] anonymous_id:aaa-aaa-aaa"
    ) in lines


def test_unmerge_splits_and_publishes(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cdp(
        capsys, "profile", "unmerge", "user_id:97980cfea0067", "--evidence", "m5-mobile-login"
    )
    assert code == 0 and out.startswith("unmerged evidence m5-mobile-login")
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    [message] = publisher.on(IDENTITY_CHANGES)
    [change] = [IdentityChange.from_json(c) for c in json.loads(message.data)["events"]]
    assert change.change == "unmerged"
    code, out, _ = cdp(capsys, "profile", "get", "anonymous_id:bbb-bbb-bbb")
    assert json.loads(out)["identifiers"] == {"anonymous_id": ["bbb-bbb-bbb"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("profile", "get", "email:nobody@example.com"), "no profile holds"),
        (("profile", "explain", "no-type"), "expected type:value"),
        (("profile", "unmerge", "user_id:97980cfea0067", "--evidence", "x"), "no evidence x"),
    ],
)
def test_mistakes_are_named(
    services: Services, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = cdp(capsys, *args)
    assert code == 1 and message in err
