"""Computed traits, audiences and groups as code: the YAML file's pydantic models (rules and
property conditions are in ``shared.audiences.rules``).

Every model refuses unknown keys, so a typo is an error rather than a rule that silently means
something else. What one definition says about another (a carried trait, a rule's trait or
audience, a group's members) is checked once the whole file is read: an unknown key or a cycle
between audiences is refused with the path of the field that names it.

An audience also needs the tracking plan (``shared/governance/tracking_plan.yaml``): its key as
a boolean identify trait (its identify sets ``<key>: true|false``) and each trait it carries as
a property of ``Audience Entered`` / ``Audience Exited`` (``x-audience``); otherwise its events
are flagged, or blocked under enforcement, on every run.
``tests/unit/audiences/test_tracking_plan_coverage.py`` holds the shipped ones to it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator

from shared.audiences.rules import (
    RULE_KINDS,
    AllRule,
    AnyRule,
    AudienceRule,
    Condition,
    Days,
    EventRule,
    Key,
    Model,
    Name,
    NotRule,
    ProfileTraitRule,
    Rule,
    Sessions,
    SessionsRule,
    TraitRule,
    Where,
    Window,
    days,
)
from shared.errors import CdpError

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = [
    "AllRule", "AnyRule", "Audience", "AudienceRule", "Condition", "Days", "DefinitionError",
    "Definitions", "EventRule", "Group", "NotRule", "ProfileTraitRule", "Rule", "Sessions",
    "SessionsRule", "SqlSource", "Trait", "TraitRule", "configured_definitions", "days",
    "load_definitions", "merge_definitions", "parse_definitions", "read_definitions",
]  # fmt: skip

DEFINITIONS_PATH = Path(__file__).with_name("audiences.yaml")

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


class DefinitionError(CdpError, ValueError):
    """A definitions file that cannot be used; the message lists every problem by its path."""


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


for _model in (Audience, Definitions):
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
    data = read_definitions(path)
    if over is not None:
        return merge_definitions(over, data, origin=str(path))
    return parse_definitions(data, origin=str(path))


def configured_definitions(settings: Settings) -> Definitions:
    """The definitions file the settings name (``CDP_AUDIENCE_DEFINITIONS``), else the shipped
    one."""
    named = settings.audience_definitions
    return load_definitions(Path(named) if named else None)


def read_definitions(path: Path) -> Any:
    """A definitions file's YAML, not yet validated, or a DefinitionError naming the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DefinitionError(f"{path}: cannot read it: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: not YAML: {error}") from None


SECTIONS = ("traits", "audiences", "groups", "sql_sources")


def merge_definitions(base: Definitions, data: Any, *, origin: str = "definitions") -> Definitions:
    """``data``'s sections (a definitions mapping, not yet valid alone; an empty file is one
    with none) over ``base``'s, key by key."""
    data = {} if data is None else data
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
