"""What the SQL must aggregate: each computed trait, and each aggregate a rule needs (hidden).

A rule such as ``{event: transaction_completed, within: 30d, at_least: 3}`` needs a count of
that event over 30 days; it becomes a hidden aggregate keyed ``h_<hash>`` of what it counts, so
two rules counting the same thing share one, the key is the same on every run (the state table
stores all-time ones under it), and it never reaches a profile as a computed trait.

A declared trait aggregates under a key of the same kind, ``t_<hash>`` of what it aggregates
(aggregate, event, property, ``where``, window), and comes out as the column ``t_<trait>``. The
state table stores its rows under that key, so a trait redefined under the same name (another
property, event or condition) writes new keys and never meets the rows of its old definition:
``state.refresh_state`` starts a new key from the beginning of the history. ``STATE_VERSION``
is part of every key: raising it (when what a key's rows hold changes, e.g. how a value is
read) gives every aggregate new keys, and so a fresh state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shared.audiences.definitions import (
    Condition,
    Definitions,
    EventRule,
    ProfileTraitRule,
    Sessions,
    SessionsRule,
    Trait,
    days,
)
from shared.audiences.references import walk

VALUE_AGGREGATES = frozenset({"first", "last", "unique_count", "unique_list", "most_frequent"})
NUMBER_AGGREGATES = frozenset({"sum", "min", "max"})
STATE_VERSION = 2  # 2: non-finite numbers read as NULL, values capped at VALUE_CHARS


@dataclass(frozen=True)
class Spec:
    """One aggregate of one event's matching occurrences per person, over a window."""

    key: str  # t_<hash> of what a trait aggregates, h_<hash> for a rule's
    aggregate: str
    event: str
    prop: str | None
    where: tuple[tuple[str, Any], ...]  # (property, value or Condition), sorted
    window_days: int | None  # None: all time
    name: str | None = None  # the declared trait's key; None: a rule's (hidden)

    @property
    def column(self) -> str:
        return f"t_{self.name}" if self.name else self.key

    @property
    def uses_value(self) -> bool:
        return self.aggregate in VALUE_AGGREGATES

    @property
    def uses_number(self) -> bool:
        return self.aggregate in NUMBER_AGGREGATES


@dataclass(frozen=True)
class SessionSpec:
    key: str  # s_<hash>
    recent_days: int
    prior_days: int
    min_prior: int
    below_ratio: float


@dataclass
class Plan:
    traits: list[Spec] = field(default_factory=list)
    hidden: dict[str, Spec] = field(default_factory=dict)
    sessions: dict[str, SessionSpec] = field(default_factory=dict)
    profile_traits: bool = False  # a rule reads the users table

    @property
    def specs(self) -> list[Spec]:
        return [*self.traits, *self.hidden.values()]

    @property
    def aggregated(self) -> list[Spec]:
        """One spec per key: two traits defined alike share their facts."""
        unique: dict[str, Spec] = {}
        for spec in self.specs:
            unique.setdefault(spec.key, spec)
        return [*unique.values()]

    @property
    def windowed(self) -> list[Spec]:
        return [s for s in self.aggregated if s.window_days is not None]

    @property
    def all_time(self) -> list[Spec]:
        return [s for s in self.aggregated if s.window_days is None]

    @property
    def longest_days(self) -> int:
        """The longest window a run looks back over (0: none)."""
        spans = [s.recent_days + s.prior_days for s in self.sessions.values()]
        return max([*(s.window_days or 0 for s in self.windowed), *spans], default=0)

    @property
    def reach_days(self) -> int:
        """How far back windowed reads go by event time: the longest window, and a day before
        the sessions' spans so a session that began just before one is not taken to begin in it
        (a session is found from the day before on: one of more than a day is cut)."""
        spans = [s.recent_days + s.prior_days + 1 for s in self.sessions.values()]
        return max([self.longest_days, *spans])


def _where(where: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(where.items()))


def jsonable(where: tuple[tuple[str, Any], ...]) -> list[Any]:
    return [[k, v.model_dump() if isinstance(v, Condition) else v] for k, v in where]


def hidden_key(prefix: str, *parts: Any) -> str:
    """A key that depends only on what it aggregates."""
    text = json.dumps([STATE_VERSION, *parts], sort_keys=True, separators=(",", ":"))
    return f"{prefix}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def trait_spec(name: str, trait: Trait) -> Spec:
    """Keyed by what it aggregates, not by its name (see the module's docstring)."""
    where = _where(trait.where)
    key = hidden_key("t", trait.aggregate, trait.event, trait.prop, jsonable(where),
                     trait.window_days)  # fmt: skip
    return Spec(key, trait.aggregate, trait.event, trait.prop, where, trait.window_days, name)


def event_spec(rule: EventRule) -> Spec:
    """The aggregate an event condition reads: a count (over ``within``, else all time), or the
    first or last occurrence's time (all time)."""
    aggregate = {"first_before": "first_at", "last_before": "last_at"}.get(rule.test, "count")
    window = days(rule.within) if rule.within else None
    where = _where(rule.where)
    key = hidden_key("h", aggregate, rule.event, jsonable(where), window)
    return Spec(key, aggregate, rule.event, None, where, window)


def session_spec(sessions: Sessions) -> SessionSpec:
    recent, prior = days(sessions.recent), days(sessions.prior)
    key = hidden_key("s", recent, prior, sessions.min_prior, sessions.below_ratio)
    return SessionSpec(key, recent, prior, sessions.min_prior, sessions.below_ratio)


def plan_of(defs: Definitions) -> Plan:
    plan = Plan(traits=[trait_spec(key, trait) for key, trait in defs.traits.items()])
    for audience in defs.audiences.values():
        for rule in walk(audience.rule):
            if isinstance(rule, EventRule):
                spec = event_spec(rule)
                plan.hidden.setdefault(spec.key, spec)
            elif isinstance(rule, SessionsRule):
                session = session_spec(rule.sessions)
                plan.sessions.setdefault(session.key, session)
            elif isinstance(rule, ProfileTraitRule):
                plan.profile_traits = True
    return plan
