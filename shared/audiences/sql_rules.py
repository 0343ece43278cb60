"""Rules → boolean SQL over one person's aggregates (``t_``/``h_`` columns), session counts
(``s_<hash>_recent``/``_prior``) and profile traits (``pt.traits``).

Every leaf is COALESCEd to FALSE, so ``not`` of a rule on a missing value is true and a member
column is never NULL. ``{audience: KEY}`` is KEY's rule, before exclusive groups apply (a
definitions file refuses cycles, so inlining ends). An exclusive group's members are tested in
list order: a person is in the first one whose rule holds, in none of the later ones.
"""

from __future__ import annotations

from shared.audiences.definitions import (
    AllRule,
    AnyRule,
    AudienceRule,
    Definitions,
    EventRule,
    NotRule,
    ProfileTraitRule,
    Rule,
    SessionsRule,
    TraitRule,
    days,
)
from shared.audiences.sql_parts import boolean, number, profile_trait_test, trait_test
from shared.audiences.sql_specs import Plan, event_spec, session_spec


def event_test(rule: EventRule) -> str:
    column = event_spec(rule).key
    if rule.at_least is not None:
        return f"COALESCE({column}, 0) >= {number(rule.at_least)}"
    if rule.at_most is not None:
        return f"COALESCE({column}, 0) <= {number(rule.at_most)}"
    if rule.never:
        return f"COALESCE({column}, 0) = 0"
    before = rule.first_before or rule.last_before or ""
    return f"{column} < TIMESTAMP_SUB(@as_of, INTERVAL {days(before)} DAY)"


def sessions_test(rule: SessionsRule) -> str:
    """Per day in the recent span below ``below_ratio`` times per day in the prior span:
    ``recent / r < ratio * prior / p``, multiplied out so no division rounds."""
    s = session_spec(rule.sessions)
    recent, prior = f"COALESCE({s.key}_recent, 0)", f"COALESCE({s.key}_prior, 0)"
    return (
        f"({prior} >= {s.min_prior} AND {recent} * {s.prior_days}"
        f" < {number(float(s.below_ratio))} * {prior} * {s.recent_days})"
    )


class RuleCompiler:
    def __init__(self, defs: Definitions, plan: Plan) -> None:
        self.defs = defs
        self.plan = plan
        self._audiences: dict[str, str] = {}
        self._exclusive: dict[str, list[str]] = {
            key: group.audiences
            for group in defs.groups.values()
            if group.exclusive
            for key in group.audiences
        }

    def audience(self, key: str) -> str:
        """The audience's rule as one boolean expression (before exclusive groups)."""
        if key not in self._audiences:
            self._audiences[key] = self.rule(self.defs.audiences[key].rule)
        return self._audiences[key]

    def membership(self, key: str) -> str:
        """Over the ``r_<key>`` columns: exclusive groups applied."""
        order = self._exclusive.get(key)
        if not order or order[0] == key:
            return f"r_{key}"
        earlier = order[: order.index(key)]
        return f"(r_{key} AND NOT ({' OR '.join(f'r_{k}' for k in earlier)}))"

    def rule(self, rule: Rule) -> str:
        if isinstance(rule, AllRule):
            return "(" + " AND ".join(self.rule(r) for r in rule.all) + ")"
        if isinstance(rule, AnyRule):
            return "(" + " OR ".join(self.rule(r) for r in rule.any) + ")"
        if isinstance(rule, NotRule):
            return f"(NOT {self.rule(rule.not_)})"
        if isinstance(rule, AudienceRule):
            return self.audience(rule.audience)
        if isinstance(rule, EventRule):
            return boolean(event_test(rule))
        if isinstance(rule, SessionsRule):
            return boolean(sessions_test(rule))
        if isinstance(rule, TraitRule):
            trait = self.defs.traits[rule.trait]
            column = f"t_{rule.trait}"
            return boolean(trait_test(column, trait.aggregate, rule.op, rule.value))
        if isinstance(rule, ProfileTraitRule):
            return boolean(profile_trait_test(rule.profile_trait, rule.op, rule.value))
        raise TypeError(f"not a rule: {rule!r}")
