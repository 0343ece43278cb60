"""What one definition says about another, checked once the whole file is read: carried
traits, a rule's traits and audiences, groups' members, and cycles between audiences."""

from __future__ import annotations

from collections.abc import Iterator

from shared.audiences.definitions import (
    AllRule,
    AnyRule,
    AudienceRule,
    Definitions,
    NotRule,
    Rule,
    Trait,
    TraitRule,
    timestamp_value,
)


def walk(rule: Rule) -> Iterator[Rule]:
    """The rule and every rule inside it, depth first."""
    yield rule
    inner: list[Rule] = []
    if isinstance(rule, AllRule):
        inner = rule.all
    elif isinstance(rule, AnyRule):
        inner = rule.any
    elif isinstance(rule, NotRule):
        inner = [rule.not_]
    for child in inner:
        yield from walk(child)


NUMERIC = frozenset({"INT64", "FLOAT64"})


def _trait_rule_problem(where: str, rule: TraitRule, trait: Trait | None, known: str) -> str | None:
    if trait is None:
        return f"{where}.trait: unknown trait {rule.trait!r} (known: {known})"
    kind, value = trait.sql_type, rule.value
    if value is None:
        return None
    if kind == "ARRAY<STRING>":
        return f"{where}.op: trait {rule.trait} is a list: only is_set or not_set"
    if kind in NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{where}.value: trait {rule.trait} is a number, {value!r} is not"
    if kind == "STRING" and not isinstance(value, str):
        return f"{where}.value: trait {rule.trait} is text, {value!r} is not"
    if kind == "TIMESTAMP" and timestamp_value(value) is None:
        return f"{where}.value: trait {rule.trait} is a time: an ISO 8601 text with a zone"
    return None


def check_references(defs: Definitions) -> list[str]:
    """What the definitions name that does not exist, and cycles between audiences."""
    problems: list[str] = []
    if both := sorted(set(defs.traits) & set(defs.audiences)):
        problems.append(f"keys used by both a trait and an audience: {', '.join(both)}")
    traits, audiences = ", ".join(defs.traits) or "none", ", ".join(defs.audiences) or "none"
    needs: dict[str, set[str]] = {}
    for key, audience in defs.audiences.items():
        where = f"audiences.{key}"
        for name in audience.carry:
            if name not in defs.traits:
                problems.append(f"{where}.carry: unknown trait {name!r} (known: {traits})")
        if audience.high_value_threshold is not None:
            first = defs.traits.get(audience.carry[0]) if audience.carry else None
            if first is None or first.sql_type not in NUMERIC:
                problems.append(
                    f"{where}.high_value_threshold: needs a numeric trait first in carry"
                )
        needs[key] = set()
        for rule in walk(audience.rule):
            if isinstance(rule, TraitRule):
                trait = defs.traits.get(rule.trait)
                if problem := _trait_rule_problem(f"{where}.rule", rule, trait, traits):
                    problems.append(problem)
            elif isinstance(rule, AudienceRule):
                if rule.audience not in defs.audiences:
                    problems.append(
                        f"{where}.rule.audience: unknown audience {rule.audience!r} "
                        f"(known: {audiences})"
                    )
                needs[key].add(rule.audience)
    exclusive: dict[str, str] = {}
    for key, group in defs.groups.items():
        for name in group.audiences:
            if name not in defs.audiences:
                problems.append(
                    f"groups.{key}.audiences: unknown audience {name!r} (known: {audiences})"
                )
            elif group.exclusive and name in exclusive:
                problems.append(
                    f"groups.{key}.audiences: {name} is already in exclusive group "
                    f"{exclusive[name]}"
                )
            elif group.exclusive:
                exclusive[name] = key
    if cycle := _cycle(needs):
        problems.append(f"audiences: a cycle of audience rules: {' -> '.join(cycle)}")
    return problems


def _cycle(needs: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph (its keys, the first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, path: list[str]) -> list[str]:
        if state.get(key) == 1:
            return [*path[path.index(key) :], key]
        if state.get(key) == 2 or key not in needs:
            return []
        state[key] = 1
        for nxt in sorted(needs[key]):
            if found := visit(nxt, [*path, key]):
                return found
        state[key] = 2
        return []

    for key in sorted(needs):
        if found := visit(key, []):
            return found
    return []
