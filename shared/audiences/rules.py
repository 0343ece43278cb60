"""Rules and property conditions: the parts of a definition that test a person.

A rule is one of eight kinds, told apart by the one key that names the kind (``all``, ``any``,
``not``, ``event``, ``trait``, ``profile_trait``, ``audience``, ``sessions``); every model
refuses unknown keys, so a typo is an error rather than a rule that silently means something
else.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StringConstraints,
    Tag,
    model_validator,
)

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a property or trait name: a plain JSON path step
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Days = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,3}d$")]
Window = Annotated[str, StringConstraints(pattern=r"^([1-9][0-9]{0,3}d|all)$")]


def _scalar(value: Any) -> bool | int | float | str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a number is finite, not {value!r}")
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"a value is text, a number or true/false, not {value!r}")


Scalar = Annotated[bool | int | float | str, PlainValidator(_scalar)]
TraitOp = Literal["gt", "gte", "lt", "lte", "eq", "ne", "is_set", "not_set"]


def days(text: str) -> int:
    """``"30d"`` → 30."""
    return int(text[:-1])


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(Model):
    """``{op: gt, value: 10}``; ``in`` takes a list."""

    op: Literal["gt", "gte", "lt", "lte", "eq", "ne", "in"]
    value: list[Scalar] | Scalar

    @model_validator(mode="after")
    def _fits(self) -> Condition:
        if self.op == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("op in takes a non-empty list of values")
        elif isinstance(self.value, list):
            raise ValueError(f"op {self.op} takes one value, not a list")
        elif self.op in ("gt", "gte", "lt", "lte") and isinstance(self.value, bool):
            raise ValueError(f"op {self.op} compares numbers or text, not true/false")
        return self


def _where_kind(value: Any) -> str:
    return "condition" if isinstance(value, dict | Condition) else "value"


# ``{type: deposit}`` (equality) or ``{amount: {op: gte, value: 100}}``.
Where = dict[
    Name,
    Annotated[
        Annotated[Scalar, Tag("value")] | Annotated[Condition, Tag("condition")],
        Discriminator(_where_kind),
    ],
]


class AllRule(Model):
    all: list[Rule] = Field(min_length=1)


class AnyRule(Model):
    any: list[Rule] = Field(min_length=1)


class NotRule(Model):
    not_: Rule = Field(alias="not")


EVENT_TESTS = ("at_least", "at_most", "never", "first_before", "last_before")


class EventRule(Model):
    """Exactly one of the tests; ``within`` bounds the counting ones (none: all time)."""

    event: Annotated[str, StringConstraints(min_length=1)]
    where: Where = Field(default_factory=dict)
    within: Days | None = None
    at_least: int | None = Field(default=None, ge=1)
    at_most: int | None = Field(default=None, ge=0)
    never: Literal[True] | None = None
    first_before: Days | None = None
    last_before: Days | None = None

    @model_validator(mode="after")
    def _one_test(self) -> EventRule:
        tests = [name for name in EVENT_TESTS if getattr(self, name) is not None]
        if len(tests) != 1:
            raise ValueError(f"needs exactly one of {', '.join(EVENT_TESTS)} (got {tests or 0})")
        if self.within is not None and tests[0] in ("first_before", "last_before"):
            raise ValueError(f"{tests[0]} is over all time: it takes no within")
        return self

    @property
    def test(self) -> str:
        return next(name for name in EVENT_TESTS if getattr(self, name) is not None)


class TraitRule(Model):
    trait: Key
    op: TraitOp
    value: Scalar | None = None

    @model_validator(mode="after")
    def _value(self) -> TraitRule:
        return _check_value(self)


class ProfileTraitRule(Model):
    """A trait of the ``users`` table (the latest identify traits), by the person's userId."""

    profile_trait: Name
    op: TraitOp
    value: Scalar | None = None

    @model_validator(mode="after")
    def _value(self) -> ProfileTraitRule:
        return _check_value(self)


R = TypeVar("R", "TraitRule", "ProfileTraitRule")


def _check_value(rule: R) -> R:
    if rule.op in ("is_set", "not_set") and rule.value is not None:
        raise ValueError(f"op {rule.op} takes no value")
    if rule.op not in ("is_set", "not_set") and rule.value is None:
        raise ValueError(f"op {rule.op} needs a value")
    return rule


class AudienceRule(Model):
    audience: Key


class Sessions(Model):
    """Sessions per day in the last ``recent`` below ``below_ratio`` times those of the ``prior``
    span before it, which held at least ``min_prior`` sessions."""

    recent: Days
    prior: Days
    min_prior: int = Field(ge=0)
    below_ratio: float = Field(gt=0)


class SessionsRule(Model):
    sessions: Sessions


RULE_KINDS = ("all", "any", "not", "event", "trait", "profile_trait", "audience", "sessions")
_KIND_OF_CLASS: dict[type[BaseModel], str] = {
    AllRule: "all", AnyRule: "any", NotRule: "not", EventRule: "event", TraitRule: "trait",
    ProfileTraitRule: "profile_trait", AudienceRule: "audience", SessionsRule: "sessions",
}  # fmt: skip


def _rule_kind(value: Any) -> str | None:
    """The first rule key present; a second one is then refused as an unknown field."""
    if isinstance(value, dict):
        return next((kind for kind in RULE_KINDS if kind in value), None)
    return _KIND_OF_CLASS.get(type(value))


Rule = Annotated[
    Annotated[AllRule, Tag("all")]
    | Annotated[AnyRule, Tag("any")]
    | Annotated[NotRule, Tag("not")]
    | Annotated[EventRule, Tag("event")]
    | Annotated[TraitRule, Tag("trait")]
    | Annotated[ProfileTraitRule, Tag("profile_trait")]
    | Annotated[AudienceRule, Tag("audience")]
    | Annotated[SessionsRule, Tag("sessions")],
    Discriminator(
        _rule_kind,
        custom_error_type="rule_kind",
        custom_error_message=f"a rule has one of the keys {', '.join(RULE_KINDS)}",
    ),
]


for _model in (AllRule, AnyRule, NotRule):
    _model.model_rebuild()
