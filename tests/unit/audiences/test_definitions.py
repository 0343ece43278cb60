"""Definitions as code: the shipped file, and every kind of mistake refused with its path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.audiences.definitions import (
    DEFINITIONS_PATH,
    DefinitionError,
    EventRule,
    SessionsRule,
    load_definitions,
    merge_definitions,
    parse_definitions,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "audiences"
STAGES = ["activated_incomplete", "funded_dormant", "active_core", "direct_deposit", "churn_risk"]


def test_the_shipped_file_has_the_five_stages_in_one_non_exclusive_group() -> None:
    defs = load_definitions()
    assert load_definitions(DEFINITIONS_PATH) == defs
    assert list(defs.audiences) == STAGES
    assert defs.groups["lifecycle"].audiences == STAGES
    assert defs.groups["lifecycle"].exclusive is False
    churn = defs.audiences["churn_risk"]
    assert (churn.high_value_threshold, churn.carry) == (500, ["transaction_volume_30d"])
    assert set(defs.traits) == {
        "transaction_volume_30d", "transactions_30d", "account_created_at",
        "last_transaction_at", "favourite_transaction_type", "transaction_methods",
    }  # fmt: skip
    for item in [*defs.traits.values(), *defs.audiences.values()]:
        assert item.owner and item.description


def test_the_shipped_rules_say_what_the_issue_says() -> None:
    rules = {key: a.rule for key, a in load_definitions().audiences.items()}
    assert rules["active_core"] == EventRule(
        event="transaction_completed", within="30d", at_least=3
    )
    assert rules["direct_deposit"] == EventRule(event="direct_deposit_enabled", at_least=1)
    churn = rules["churn_risk"].all  # type: ignore[union-attr]
    assert isinstance(churn[0], SessionsRule)
    assert churn[0].sessions.model_dump() == {
        "recent": "7d", "prior": "30d", "min_prior": 3, "below_ratio": 0.5
    }  # fmt: skip
    assert churn[1] == EventRule(event="transaction_completed", within="21d", never=True)
    first = rules["activated_incomplete"].all[0]  # type: ignore[union-attr]
    assert first == EventRule(event="account_created", first_before="7d")


def trait(**fields: Any) -> dict[str, Any]:
    return {"owner": "t", "description": "d", "event": "e", "aggregate": "count", **fields}


def audience(rule: Any, **fields: Any) -> dict[str, Any]:
    return {"name": "A", "owner": "t", "description": "d", "rule": rule, **fields}


BASE: dict[str, Any] = {
    "version": 1,
    "traits": {"spend": trait(aggregate="sum", property="amount"), "methods": trait(
        aggregate="unique_list", property="method"), "seen": trait(aggregate="last_at")},
    "audiences": {"ok": audience({"event": "e", "at_least": 1})},
}  # fmt: skip


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at ``a.b.c`` set."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top key", with_("segments", {}), "segments: Extra inputs are not permitted"),
    ("key not snake_case", with_("traits.Spend", trait()), "traits.Spend"),
    ("sum without property", with_("traits.x", trait(aggregate="sum")),
     "traits.x: aggregate sum needs a property"),
    ("count with a property", with_("traits.x", trait(property="amount")),
     "traits.x: aggregate count takes no property"),
    ("unknown aggregate", with_("traits.x", trait(aggregate="avg")), "traits.x.aggregate"),
    ("window without unit", with_("traits.x", trait(window="30")), "traits.x.window"),
    ("property not a plain name", with_("traits.x", trait(aggregate="max", property="a.b")),
     "traits.x.property"),
    ("in with one value", with_("traits.x", trait(where={"m": {"op": "in", "value": "a"}})),
     "traits.x.where.m: op in takes a non-empty list"),
    ("gt with true", with_("traits.x", trait(where={"m": {"op": "gt", "value": True}})),
     "traits.x.where.m: op gt compares numbers or text"),
    ("a list as a value", with_("traits.x", trait(where={"m": [1]})), "traits.x.where.m"),
    ("an infinite number", with_("traits.x", trait(where={"m": float("inf")})),
     "traits.x.where.m.value: a number is finite"),
    ("two event tests", with_("audiences.a", audience({"event": "e", "at_least": 1,
     "never": True})), "audiences.a.rule: needs exactly one of"),
    ("no event test", with_("audiences.a", audience({"all": [{"event": "e"}]})),
     "audiences.a.rule.all[0]: needs exactly one of"),
    ("first_before within", with_("audiences.a", audience({"event": "e", "first_before": "7d",
     "within": "30d"})), "audiences.a.rule: first_before is over all time"),
    ("at_least 0", with_("audiences.a", audience({"event": "e", "at_least": 0})),
     "audiences.a.rule.at_least"),
    ("unknown rule kind", with_("audiences.a", audience({"any": [{"segment": "x"}]})),
     "audiences.a.rule.any[0]: a rule has one of the keys"),
    ("two kinds in one rule", with_("audiences.a", audience({"event": "e", "at_least": 1,
     "trait": "spend"})), "audiences.a.rule.trait: Extra inputs are not permitted"),
    ("is_set with a value", with_("audiences.a", audience({"trait": "spend", "op": "is_set",
     "value": 1})), "audiences.a.rule: op is_set takes no value"),
    ("gt without a value", with_("audiences.a", audience({"not": {"profile_trait": "plan",
     "op": "gt"}})), "audiences.a.rule.not: op gt needs a value"),
    ("sessions without min_prior", with_("audiences.a", audience({"sessions": {"recent": "7d",
     "prior": "30d", "below_ratio": 0.5}})), "audiences.a.rule.sessions.min_prior"),
    ("unknown trait in a rule", with_("audiences.a", audience({"trait": "spent", "op": "gt",
     "value": 1})), "audiences.a.rule.trait: unknown trait 'spent' (known: spend, methods"),
    ("text against a number", with_("audiences.a", audience({"trait": "spend", "op": "gt",
     "value": "lots"})), "audiences.a.rule.value: trait spend is a number"),
    ("a list compared", with_("audiences.a", audience({"trait": "methods", "op": "eq",
     "value": "ach"})), "audiences.a.rule.op: trait methods is a list"),
    ("a time without zone", with_("audiences.a", audience({"trait": "seen", "op": "gt",
     "value": "2026-01-01T00:00:00"})), "audiences.a.rule.value: trait seen is a time"),
    ("unknown audience", with_("audiences.a", audience({"audience": "nope"})),
     "audiences.a.rule.audience: unknown audience 'nope'"),
    ("unknown carried trait", with_("audiences.a", audience({"audience": "ok"},
     carry=["volume"])), "audiences.a.carry: unknown trait 'volume'"),
    ("threshold on a list", with_("audiences.a", audience({"audience": "ok"}, carry=["methods"],
     high_value_threshold=5)), "audiences.a.high_value_threshold: needs a numeric trait"),
    ("trait and audience share a key", with_("audiences.spend", audience({"audience": "ok"})),
     "keys used by both a trait and an audience: spend"),
    ("group of an unknown audience", with_("groups.g", {"audiences": ["ok", "nope"]}),
     "groups.g.audiences: unknown audience 'nope'"),
    ("group naming one twice", with_("groups.g", {"audiences": ["ok", "ok"]}),
     "groups.g.audiences: names an audience twice"),
    ("self reference", with_("audiences.a", audience({"not": {"audience": "a"}})),
     "a cycle of audience rules: a -> a"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_mistake_is_refused_naming_its_key_and_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definitions(data)
    assert message in str(refused.value)


def test_the_base_of_those_cases_is_valid() -> None:
    assert set(parse_definitions(BASE).traits) == {"spend", "methods", "seen"}


def test_an_audience_in_two_exclusive_groups_is_refused() -> None:
    data = with_("groups", {"g1": {"audiences": ["ok"], "exclusive": True},
                            "g2": {"audiences": ["ok"], "exclusive": True}})  # fmt: skip
    with pytest.raises(DefinitionError, match=r"groups\.g2\.audiences: ok is already in exclusive"):
        parse_definitions(data)


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("cycle.yaml", ["a cycle of audience rules: a -> b -> c -> a"]),
        ("unknown_names.yaml", ["audiences.a.carry: unknown trait 'volume'",
                                "audiences.a.rule.trait: unknown trait 'spent'",
                                "groups.g.audiences: unknown audience 'b'"]),
        ("not_yaml.yaml", ["not_yaml.yaml"]),
    ],
)  # fmt: skip
def test_bad_files_are_refused_with_every_problem(name: str, messages: list[str]) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_definitions(FIXTURES / name)
    for message in messages:
        assert message in str(refused.value)


def test_a_missing_file_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"no-such\.yaml"):
        load_definitions(FIXTURES / "no-such.yaml")


def test_a_new_file_may_use_the_shipped_traits_and_audiences(tmp_path: Path) -> None:
    overlay = {"version": 1, "audiences": {"whales": audience(
        {"all": [{"trait": "transaction_volume_30d", "op": "gte", "value": 10000},
                 {"audience": "active_core"}]})}}  # fmt: skip
    with pytest.raises(DefinitionError, match="unknown trait 'transaction_volume_30d'"):
        parse_definitions(overlay)
    shipped = load_definitions()
    merged = merge_definitions(shipped, overlay)
    assert list(merged.audiences) == [*STAGES, "whales"]
    assert merged.traits == shipped.traits
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(overlay))
    assert load_definitions(path, over=shipped) == merged
    overlay["audiences"]["whales"]["rule"] = {"audience": "nope"}
    path.write_text(yaml.safe_dump(overlay))
    with pytest.raises(DefinitionError, match=r"new\.yaml: invalid\n.*unknown audience 'nope'"):
        load_definitions(path, over=shipped)


def test_a_definition_dumps_as_it_was_written() -> None:
    churn = load_definitions().audiences["churn_risk"]
    dumped = churn.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    assert dumped["rule"]["all"][1] == {
        "event": "transaction_completed", "within": "21d", "never": True
    }  # fmt: skip
    trait_dump = load_definitions().traits["transaction_methods"].model_dump(by_alias=True)
    assert trait_dump["property"] == "method"
