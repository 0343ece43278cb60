"""The merge rule as a table: which profiles merge, which identifiers join, which are left out."""

from __future__ import annotations

import pytest

from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier
from shared.identity.rules import Conflict, Plan, plan_event

CONFIG = IdentityConfig()
U1, U2 = Identifier("user_id", "u1"), Identifier("user_id", "u2")
A1, A2 = Identifier("anonymous_id", "a1"), Identifier("anonymous_id", "a2")
E = [Identifier("email", f"e{n}@x.io") for n in range(7)]

# Profiles on hand: P holds u1+a1, Q holds a2 only, R holds u2, S holds five emails.
HOLDINGS = {
    "P": {"user_id": ["u1"], "anonymous_id": ["a1"]},
    "Q": {"anonymous_id": ["a2"]},
    "R": {"user_id": ["u2"]},
    "S": {"email": [e.value for e in E[:5]]},
}
OWNERS = {U1: "P", A1: "P", A2: "Q", U2: "R", **dict.fromkeys(E[:5], "S")}

CASES = [
    ("all new: a new profile", [U1, A1], {}, Plan(None, (), (U1, A1), (U1, A1))),
    ("known alone: nothing to do", [U1], OWNERS, Plan("P", (), (), (U1,))),
    ("new anonymousId joins", [U1, A2], {U1: "P"}, Plan("P", (), (A2,), (U1, A2))),
    ("anonymous profile merges", [U1, A2], OWNERS, Plan("P", ("Q",), (), (U1, A2))),
    (
        "two userIds never merge",
        [U1, U2],
        OWNERS,
        Plan("P", (), (), (U1,), (Conflict(U2, "R", "user_id", 1),)),
    ),
    (
        "a second userId is left out, not attached",
        [U1, Identifier("user_id", "u9")],
        OWNERS,
        Plan("P", (), (), (U1,), (Conflict(Identifier("user_id", "u9"), None, "user_id", 1),)),
    ),
    (
        "a profile holding another userId is left out with its identifier",
        [U1, U2, A2],
        {**OWNERS, A2: "R"},
        Plan(
            "P", (), (), (U1,), (Conflict(U2, "R", "user_id", 1), Conflict(A2, "R", "user_id", 1))
        ),
    ),
    (
        "a sixth email is left out",
        [E[0], E[5]],
        OWNERS,
        Plan("S", (), (), (E[0],), (Conflict(E[5], None, "email", 5),)),
    ),
    (
        "emails of two profiles merge within the limit",
        [U1, E[5], E[6]],
        {U1: "P", E[5]: "T", E[6]: "T"},
        Plan("P", ("T",), (), (U1, E[5], E[6])),
    ),
    (
        "a merge that would hold six emails is refused",
        [U1, E[0]],
        {**OWNERS, U1: "P2"},
        Plan("P2", (), (), (U1,), (Conflict(E[0], "S", "email", 5),)),
    ),
]
HOLDINGS_EXTRA = {
    "T": {"email": [E[5].value, E[6].value]},
    "P2": {"user_id": ["u1"], "email": ["z@x.io"]},
}


@pytest.mark.parametrize(("name", "identifiers", "owners", "expected"), CASES)
def test_merge_rule(
    name: str,
    identifiers: list[Identifier],
    owners: dict[Identifier, str],
    expected: Plan,
) -> None:
    assert plan_event(identifiers, owners, {**HOLDINGS, **HOLDINGS_EXTRA}, CONFIG) == expected


@pytest.mark.parametrize(
    ("plan", "kind"),
    [
        (Plan(None, (), (U1,), (U1,)), "created"),
        (Plan("P", (), (A2,), (U1, A2)), "linked"),
        (Plan("P", ("Q",), (), (U1, A2)), "merged"),
        (Plan("P", (), (), (U1,)), "none"),
    ],
)
def test_plan_kinds(plan: Plan, kind: str) -> None:
    assert plan.kind == kind


def test_limits_and_priority_are_configurable() -> None:
    config = IdentityConfig.model_validate(
        {"types": {"user_id": {"limit": 2}}, "priority": ["anonymous_id", "user_id"]}
    )
    plan = plan_event([A1, U2], {A1: "P", U2: "R"}, HOLDINGS, config)
    assert plan == Plan("P", ("R",), (), (A1, U2))
