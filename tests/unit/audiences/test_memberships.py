"""The membership diff: who entered, who left, and what is not a person entering or leaving."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.audiences.memberships import (
    DELETED,
    ENTERED,
    EXITED,
    MERGED,
    Member,
    Person,
    Transition,
    after,
    counts,
    diff,
    message_id,
    person_of,
    sizes,
)

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 1, 8, 12, tzinfo=UTC)


def person(pid: str, *audiences: str, user: str | None = None, anon: str | None = None) -> Person:
    return Person(pid, user or f"u-{pid}", anon, {}, frozenset(audiences))


def member(key: str, pid: str, user: str | None = None) -> Member:
    return Member(key, pid, user or f"u-{pid}", EARLIER)


def t(key: str, pid: str, kind: str, reason: str = "", anon: str | None = None) -> Transition:
    return Transition(key, pid, f"u-{pid}", anon, kind, reason)


CASES: list[tuple[str, list[Person], list[Member], dict[str, Any], list[Transition]]] = [
    ("nobody, before and after", [], [], {}, []),
    ("entered", [person("p1", "a")], [], {}, [t("a", "p1", ENTERED)]),
    ("exited", [person("p1")], [member("a", "p1")], {}, [t("a", "p1", EXITED)]),
    ("unchanged", [person("p1", "a")], [member("a", "p1")], {}, []),
    (
        "gone from the run (no events left in any window): exited",
        [],
        [member("a", "p1")],
        {"anonymous_ids": {"p1": "device-1"}},
        [t("a", "p1", EXITED, anon="device-1")],
    ),
    (
        "several audiences: one kept, one left, one joined",
        [person("p1", "a", "c")],
        [member("a", "p1"), member("b", "p1")],
        {},
        [t("b", "p1", EXITED), t("c", "p1", ENTERED)],
    ),
    (
        "exclusive group switch: leaves the first stage, joins the next",
        [person("p1", "stage_2")],
        [member("stage_1", "p1")],
        {},
        [t("stage_1", "p1", EXITED), t("stage_2", "p1", ENTERED)],
    ),
    (
        "merged into a profile that was a member: the old one exits silently",
        [person("p2", "a")],
        [member("a", "p1"), member("a", "p2")],
        {"merged_into": {"p1": "p2"}},
        [t("a", "p1", EXITED, MERGED)],
    ),
    (
        "merged into a profile that was not a member: both transitions silent",
        [person("p2", "a")],
        [member("a", "p1")],
        {"merged_into": {"p1": "p2"}},
        [t("a", "p1", EXITED, MERGED), t("a", "p2", ENTERED, MERGED)],
    ),
    (
        "merged into a profile that is not a member: the person left",
        [person("p2")],
        [member("a", "p1")],
        {"merged_into": {"p1": "p2"}},
        [t("a", "p1", EXITED)],
    ),
    (
        "merged, but the survivor also joins another audience: that entry is announced",
        [person("p2", "a", "b")],
        [member("a", "p1")],
        {"merged_into": {"p1": "p2"}},
        [t("a", "p1", EXITED, MERGED), t("a", "p2", ENTERED, MERGED), t("b", "p2", ENTERED)],
    ),
    (
        "suppressed person: every membership exits as deleted, nothing entered",
        [],
        [member("a", "p1"), member("b", "p1")],
        {"deleted": {"p1"}},
        [t("a", "p1", EXITED, DELETED), t("b", "p1", EXITED, DELETED)],
    ),
    (
        "others are untouched by one person's deletion",
        [person("p2", "a")],
        [member("a", "p1"), member("a", "p2")],
        {"deleted": {"p1"}},
        [t("a", "p1", EXITED, DELETED)],
    ),
]


@pytest.mark.parametrize(
    ("people", "members", "extra", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_diff(
    people: list[Person], members: list[Member], extra: dict[str, Any], expected: list[Transition]
) -> None:
    assert diff({p.profile_id: p for p in people}, members, **extra) == expected


def test_only_person_level_transitions_are_announced() -> None:
    assert [r for r in ("", MERGED, DELETED) if t("a", "p", EXITED, r).announced] == [""]


def test_an_exit_takes_the_current_user_id_and_anonymous_id_of_a_person_still_there() -> None:
    now = Person("p1", "new-user", "device-9", {}, frozenset())
    [exit_] = diff({"p1": now}, [Member("a", "p1", "old-user", EARLIER)])
    assert (exit_.user_id, exit_.anonymous_id) == ("new-user", "device-9")


def test_person_of_reads_traits_and_audiences_and_drops_unset_traits() -> None:
    row = {
        "profile_id": "p1",
        "user_id": None,
        "anonymous_id": "device-1",
        "t_volume": 612.5,
        "t_count": 0,
        "t_last_at": datetime(2026, 1, 3, 4, 5, 6, tzinfo=UTC),
        "t_methods": ["ach", "card"],
        "t_favourite": None,
        "t_none": [],
        "t_nan": float("nan"),  # a property "NaN" summed: unset, as the events carry it
        "a_one": True,
        "a_two": False,
        "a_three": None,
        "a_undeclared": True,
    }
    got = person_of(row, ["volume", "count", "last_at", "methods", "favourite", "none", "nan"],
                    ["one", "two", "three"])  # fmt: skip
    assert got == Person(
        "p1",
        None,
        "device-1",
        {
            "volume": 612.5,
            "count": 0,
            "last_at": "2026-01-03T04:05:06.000Z",
            "methods": ["ach", "card"],
        },
        frozenset({"one"}),
    )


def test_message_ids_are_deterministic_and_differ_by_every_part() -> None:
    base = message_id("a", "p1", ENTERED, AS_OF)
    assert base == message_id("a", "p1", ENTERED, AS_OF)
    assert base.startswith("aud-") and len(base) == 36
    others = {
        message_id("b", "p1", ENTERED, AS_OF),
        message_id("a", "p2", ENTERED, AS_OF),
        message_id("a", "p1", EXITED, AS_OF),
        message_id("a", "p1", ENTERED, EARLIER),
    }
    assert base not in others and len(others) == 4


def test_after_applies_transitions_to_the_open_memberships() -> None:
    members = [member("a", "p1"), member("b", "p1"), member("a", "p3")]
    moves = [t("b", "p1", EXITED), t("c", "p1", ENTERED), t("a", "p2", ENTERED),
             t("a", "p3", EXITED, DELETED)]  # fmt: skip
    assert after(members, moves, AS_OF) == {
        "p1": {"a": EARLIER, "c": AS_OF},
        "p2": {"a": AS_OF},
    }


def test_counts_leave_merges_out_and_sizes_count_members() -> None:
    moves = [t("a", "p1", EXITED, MERGED), t("a", "p2", ENTERED, MERGED), t("a", "p3", ENTERED),
             t("b", "p4", EXITED, DELETED), t("b", "p5", EXITED)]  # fmt: skip
    assert counts(moves, ENTERED) == {"a": 1}
    assert counts(moves, EXITED) == {"b": 2}
    people = {p.profile_id: p for p in [person("p1", "a"), person("p2", "a", "b"), person("p3")]}
    assert sizes(people, ["a", "b", "c"]) == {"a": 2, "b": 1, "c": 0}
