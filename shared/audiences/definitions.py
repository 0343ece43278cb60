"""Computed traits, audiences and groups as code: the YAML file's pydantic models.

Every model refuses unknown keys, so a typo is an error rather than a rule that silently means
something else. A rule is one of eight kinds, told apart by the one key that names the kind
(``all``, ``any``, ``not``, ``event``, ``trait``, ``profile_trait``, ``audience``, ``sessions``).
What one definition says about another (a carried trait, a rule's trait or audience, a group's
members) is checked once the whole file is read: an unknown key or a cycle between audiences is
refused with the path of the field that names it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import CdpError

DEFINITIONS_PATH = Path(__file__).with_name("audiences.yaml")

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a property or trait name: a plain JSON path step
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Days = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,3}d$")]
Window = Annotated[str, StringConstraints(pattern=r"^([1-9][0-9]{0,3}d|all)$")]


def _scalar(value: Any) -> bool | int | float | str:
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"a value is text, a number or true/false, not {value!r}")


Scalar = Annotated[bool | int | float | str, PlainValidator(_scalar)]

Aggregate = Literal[
    "count", "sum", "min", "max", "first", "last", "unique_count", "unique_list",
    "most_frequent", "first_at", "last_at",
]  # fmt: skip
NO_PROPERTY = frozenset({"count", "first_at", "last_at"})
SQL_TYPES: dict[str, str] = {
    "count": "INT64", "unique_count": "INT64", "sum": "FLOAT64", "min": "FLOAT64",
    "max": "FLOAT64", "first": "STRING", "last": "STRING", "most_frequent": "STRING",
    "unique_list": "ARRAY<STRING>", "first_at": "TIMESTAMP", "last_at": "TIMESTAMP",
}  # fmt: skip
CompareOp = Literal["gt", "gte", "lt", "lte", "eq", "ne"]
TraitOp = Literal["gt", "gte", "lt", "lte", "eq", "ne", "is_set", "not_set"]


class DefinitionError(CdpError, ValueError):
    """A definitions file that cannot be used; the message lists every problem by its path."""


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


class Trait(Model):
    owner: str
    description: str
    event: Annotated[str, StringConstraints(min_length=1)]
    aggregate: Aggregate
    prop: Name | None = Field(default=None, alias="property")  # ``property`` in the YAML
    where: Where = Field(default_factory=dict)
    window: Window = "all"

    @model_validator(mode="after")
    def _property(self) -> Trait:
        if self.aggregate in NO_PROPERTY and self.prop is not None:
            raise ValueError(f"aggregate {self.aggregate} takes no property")
        if self.aggregate not in NO_PROPERTY and self.prop is None:
            raise ValueError(f"aggregate {self.aggregate} needs a property")
        return self

    @property
    def window_days(self) -> int | None:
        """None: all time."""
        return None if self.window == "all" else days(self.window)

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.aggregate]


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


class Audience(Model):
    name: str
    owner: str
    description: str
    high_value_threshold: float | None = Field(default=None, ge=0)
    carry: list[Key] = Field(default_factory=list)
    rule: Rule


class Group(Model):
    description: str = ""
    audiences: list[Key] = Field(min_length=1)
    exclusive: bool = False

    @field_validator("audiences")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names an audience twice")
        return value


class SqlIdentity(Model):
    column: str
    type: Literal["user_id", "anonymous_id"]


class SqlSource(Model):
    """A warehouse query whose rows become identify calls (``shared.audiences.sql_source``)."""

    owner: str
    description: str
    sql: Annotated[str, StringConstraints(min_length=1)]
    identity: SqlIdentity
    traits: list[str] | None = None  # None: every column but the identity's


class Definitions(Model):
    version: Literal[1]
    traits: dict[Key, Trait] = Field(default_factory=dict)
    audiences: dict[Key, Audience] = Field(default_factory=dict)
    groups: dict[Key, Group] = Field(default_factory=dict)
    sql_sources: dict[Key, SqlSource] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Definitions:
        from shared.audiences.references import check_references  # it reads these models

        problems = check_references(self)
        if problems:
            raise ValueError("\n  ".join(problems))
        return self


for _model in (AllRule, AnyRule, NotRule, Audience, Definitions):
    _model.model_rebuild()


def parse_definitions(data: Any, *, origin: str = "definitions") -> Definitions:
    """Validated definitions, or a DefinitionError listing each problem as ``path: message``."""
    try:
        return Definitions.model_validate(data)
    except ValidationError as error:
        lines = [
            f"{_path(e['loc'])}: {message}" if e["loc"] else message
            for e in error.errors()
            if (message := e["msg"].removeprefix("Value error, "))
        ]
        raise DefinitionError(f"{origin}: " + "\n  ".join(["invalid", *lines])) from None


def load_definitions(path: Path | None = None, *, over: Definitions | None = None) -> Definitions:
    """The definitions in ``path`` (default: the shipped ``audiences.yaml``). With ``over``, the
    file's traits, audiences, groups and SQL sources are laid over those (a new file may name
    the shipped ones: ``cdp audiences preview``), then validated as one."""
    path = path or DEFINITIONS_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DefinitionError(f"{path}: {error}") from None
    if over is not None:
        return merge_definitions(over, data, origin=str(path))
    return parse_definitions(data, origin=str(path))


SECTIONS = ("traits", "audiences", "groups", "sql_sources")


def merge_definitions(base: Definitions, data: Any, *, origin: str = "definitions") -> Definitions:
    """``data``'s sections (a definitions mapping, not yet valid alone) over ``base``'s."""
    if not isinstance(data, dict):
        raise DefinitionError(f"{origin}: invalid\n  definitions: a mapping of {SECTIONS}")
    merged: dict[str, Any] = {**data, **base.model_dump(by_alias=True, exclude_none=True)}
    for section in SECTIONS:
        overlay = data.get(section) or {}
        if not isinstance(overlay, dict):
            raise DefinitionError(f"{origin}: invalid\n  {section}: a mapping by key")
        merged[section] = {**merged[section], **overlay}
    merged["version"] = data.get("version", 1)
    return parse_definitions(merged, origin=origin)


def timestamp_value(value: Any) -> datetime | None:
    """A rule's value for a TIMESTAMP trait: an ISO 8601 text with a time zone."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _path(loc: tuple[int | str, ...]) -> str:
    """``('audiences', 'x', 'rule', 'all', 'all', 0, 'event', 'within')`` →
    ``audiences.x.rule.all[0].within``: a rule's kind tag repeats its key and is left out."""
    text, expect_tag, previous = "", False, None
    for item in loc:
        if (
            (expect_tag and item in RULE_KINDS)
            or item == "condition"
            or str(item).startswith("function-")
        ):
            expect_tag = False
            continue
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
        listed = isinstance(item, int) and previous in ("all", "any")
        expect_tag = item in ("rule", "not") or listed
        previous = item
    return text or "definitions"
