"""The one topology declaration is consistent, and every function it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared.topology import TOPOLOGY, Trigger

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^[a-z][a-z0-9-]{2,62}$")  # valid for topics, subscriptions and functions


def test_names_are_unique_and_valid() -> None:
    names = [
        *TOPOLOGY.all_topic_names(),
        *(s.name for s in TOPOLOGY.subscriptions),
        *(f.name for f in TOPOLOGY.functions),
        *(s.name for s in TOPOLOGY.schedules),
    ]
    assert all(NAME.match(n) for n in names), [n for n in names if not NAME.match(n)]
    assert len(TOPOLOGY.all_topic_names()) == len(set(TOPOLOGY.all_topic_names()))
    assert len({s.name for s in TOPOLOGY.subscriptions}) == len(TOPOLOGY.subscriptions)


@pytest.mark.parametrize("sub", TOPOLOGY.subscriptions, ids=lambda s: s.name)
def test_each_subscription_feeds_a_pubsub_function_from_a_declared_topic(sub) -> None:  # type: ignore[no-untyped-def]
    assert sub.topic in {t.name for t in TOPOLOGY.topics}
    assert TOPOLOGY.function(sub.function).trigger is Trigger.PUBSUB
    assert sub.dead_letter_topic in TOPOLOGY.all_topic_names()
    assert 5 <= sub.max_delivery_attempts <= 100  # Pub/Sub's allowed range
    assert 10 <= sub.ack_deadline_seconds <= 600


@pytest.mark.parametrize("schedule", TOPOLOGY.schedules, ids=lambda s: s.name)
def test_each_schedule_calls_a_private_http_function(schedule) -> None:  # type: ignore[no-untyped-def]
    function = TOPOLOGY.function(schedule.function)
    assert function.trigger is Trigger.HTTP and not function.public


def test_only_the_tracking_endpoint_is_public() -> None:
    assert [f.name for f in TOPOLOGY.functions if f.public] == ["ingest"]


def test_every_pubsub_function_has_a_subscription() -> None:
    for function in TOPOLOGY.functions:
        if function.trigger is Trigger.PUBSUB:
            assert TOPOLOGY.subscriptions_of(function.name), function.name


@pytest.mark.parametrize("function", TOPOLOGY.functions, ids=lambda f: f.name)
def test_each_function_folder_defines_its_entry_point(function) -> None:  # type: ignore[no-untyped-def]
    folder = REPO / "functions" / function.folder
    tree = ast.parse((folder / "main.py").read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert function.entry_point in defined
    assert (folder / "requirements.txt").exists()


def test_function_requirements_pin_the_same_versions_as_the_top_level() -> None:
    def pins(path: Path) -> dict[str, str]:
        lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
        return dict(ln.split("==", 1) for ln in lines if "==" in ln)

    top = pins(REPO / "requirements.txt")
    for function in TOPOLOGY.functions:
        own = pins(REPO / "functions" / function.folder / "requirements.txt")
        assert own.items() <= top.items(), function.name


def test_unknown_function_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no function named 'nope'"):
        TOPOLOGY.function("nope")
