"""The tracking plan: the contract every event is checked against at ingest.

One YAML file (``tracking_plan.yaml`` beside this module), versioned with the code. It says
which events exist (with an owner, a description, a lifecycle status and a version of their
own), how their properties and identify's traits are typed (types, enums, ranges, formats,
patterns), which properties every event carries, which events the platform makes itself, and
per source what happens to each kind of finding. The warehouse reads the same plan for its typed
views.

Loading refuses what would make the checks misbehave (an unknown type, format, status, source
kind, finding kind or mode, a pattern that does not compile, a name against the convention, a
misspelt key); ``lint`` reports what parses but contradicts itself. What the checks read per
event is indexed once per plan (``planned``, ``modes_for``), so ingest pays a dict lookup, not a
model walk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.governance.formats import FORMATS, value_check

PLAN_PATH = Path(__file__).with_name("tracking_plan.yaml")
BIGQUERY_TYPES = {
    "string": "STRING",
    "number": "FLOAT64",
    "integer": "INT64",
    "boolean": "BOOL",
    "timestamp": "TIMESTAMP",
}
KINDS = (
    "unplanned_event",
    "unplanned_property",
    "missing_property",
    "wrong_type",
    "deprecated_event",
)
MODES = ("allow", "flag", "block")
DEFAULT_MODE = "flag"  # nothing is blocked until an operator says so
SOURCE_KINDS = ("web", "ios", "android", "server", "third_party")  # shared.settings.Source.kind
# camel_case exists for plans that start from an SDK's own naming; both stay valid BigQuery view
# and column names, which "Title Case" would not (platform events keep theirs: no view).
NAMING = {
    "snake_case": re.compile(r"^[a-z][a-z0-9_]{0,63}$"),
    "camel_case": re.compile(r"^[a-z][a-zA-Z0-9]{0,63}$"),
}
TRAITS = "identify"  # what a finding on an identify's traits calls the event

Scalar = str | int | float | bool
Status = Literal["draft", "active", "deprecated"]
Mode = Literal["allow", "flag", "block"]


class Property(BaseModel):
    """A property (or trait): its type and what its values may be."""

    model_config = ConfigDict(extra="forbid")

    type: str
    required: bool = False
    required_for: tuple[str, ...] = ()  # source kinds that must send it; empty: every kind
    description: str = ""
    enum: tuple[Scalar, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    format: str | None = None
    pattern: str | None = None  # a regular expression the whole value must match
    default: Scalar | None = None  # what readers assume when it is absent (optional ones only)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in BIGQUERY_TYPES:
            raise ValueError(f"unknown type {value!r}; one of {', '.join(BIGQUERY_TYPES)}")
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; one of {', '.join(FORMATS)}")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"pattern does not compile: {error}") from error
        return value

    @field_validator("required_for")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SOURCE_KINDS))
        if unknown:
            raise ValueError(f"unknown source kind(s) {unknown}; one of {', '.join(SOURCE_KINDS)}")
        return value

    @property
    def bigquery_type(self) -> str:
        return BIGQUERY_TYPES[self.type]

    @cached_property
    def check(self) -> Callable[[Any], str]:
        """What is wrong with a present, non-null value ('' when nothing is); compiled once,
        on first use: the checks call it per value."""
        return value_check(
            self.type, self.enum, self.minimum, self.maximum, self.format, self.pattern
        )


class EventSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    owner: str = ""  # the team that answers for it
    status: Status = "active"
    version: int = Field(default=1, ge=1)
    replacement: str = ""  # a deprecated event's note: what to send instead
    properties: dict[str, Property] = Field(default_factory=dict)


class Enforcement(BaseModel):
    """Per finding kind a mode: ``default`` for every source, ``sources`` per source id."""

    model_config = ConfigDict(extra="forbid")

    default: dict[str, Mode] = Field(default_factory=dict)
    sources: dict[str, dict[str, Mode]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kinds(self) -> Enforcement:
        for where, modes in [("default", self.default), *self.sources.items()]:
            unknown = sorted(set(modes) - set(KINDS))
            if unknown:
                raise ValueError(
                    f"{where}: unknown finding kind(s) {unknown}; one of {', '.join(KINDS)}"
                )
        return self


@dataclass(frozen=True)
class Planned:
    """One event (or identify's traits) as the checks read it, built once per plan: plain
    values and closures, since the checks run on every event and a pydantic attribute read
    costs as much as a whole value's check."""

    name: str
    status: str
    replacement: str
    properties: Mapping[str, Property]
    # Required names, each with the source kinds that must send it (empty: every kind).
    required: tuple[tuple[str, frozenset[str]], ...]
    # Name → its value's check ('' when nothing is wrong), for every planned property.
    validators: Mapping[str, Callable[[Any], str]]
    # The names a source of each kind must send (a set: ``required`` keeps the plan's order).
    required_by_kind: Mapping[str, frozenset[str]]
    required_of_any: frozenset[str]  # of every kind: all a kind outside SOURCE_KINDS owes


def _planned(name: str, spec: EventSpec | None, properties: dict[str, Property]) -> Planned:
    required = tuple((n, frozenset(p.required_for)) for n, p in properties.items() if p.required)
    by_kind = {
        kind: frozenset(n for n, kinds in required if not kinds or kind in kinds)
        for kind in SOURCE_KINDS
    }
    return Planned(
        name,
        spec.status if spec else "active",
        spec.replacement if spec else "",
        MappingProxyType(properties),
        required,
        # Plain dicts, typed read-only: a mapping proxy's lookup costs 30 ns more, per value.
        {n: p.check for n, p in properties.items()},
        by_kind,
        frozenset(n for n, kinds in required if not kinds),
    )


class TrackingPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    naming: Literal["snake_case", "camel_case"] = "snake_case"
    common_properties: dict[str, Property] = Field(default_factory=dict)  # of every track event
    traits: dict[str, Property] = Field(default_factory=dict)
    events: dict[str, EventSpec] = Field(default_factory=dict)
    # Events the platform makes (webhooks, audiences): exempt from the naming convention and
    # from the common properties, since no app sends them.
    platform_events: dict[str, EventSpec] = Field(default_factory=dict)
    enforcement: Enforcement = Field(default_factory=Enforcement)
    pii: dict[str, Any] = Field(default_factory=dict)  # shared.governance.pii.PiiConfig's

    @model_validator(mode="after")
    def _names_follow_the_convention(self) -> TrackingPlan:
        rule = NAMING[self.naming]
        named = {
            "common_properties": list(self.common_properties),
            "traits": list(self.traits),
            "events": list(self.events),
        }
        for event, spec in self.events.items():
            named[f"events.{event}.properties"] = list(spec.properties)
        bad = [
            f"{where}: {n}" for where, names in named.items() for n in names if not rule.match(n)
        ]
        if bad:
            raise ValueError(f"names must be {self.naming}: {'; '.join(sorted(bad))}")
        return self

    def typed_properties(self, event: str) -> dict[str, Property]:
        """Common properties, then the event's own (which win on a name clash); a platform
        event's own only."""
        if event in self.events:
            return {**self.common_properties, **self.events[event].properties}
        return dict(self.platform_events[event].properties)

    def spec(self, event: str) -> EventSpec | None:
        """A planned event wins over a platform event of the same name (lint refuses both)."""
        return self.events.get(event) or self.platform_events.get(event)

    # Indexes built on first use and kept in the instance's own dict (cached properties): a
    # pydantic private attribute is read through ``__getattr__``, which cost more than the
    # checks themselves.
    @cached_property
    def index(self) -> dict[str, Planned]:
        """Event name → what the checks read of it, for every planned and platform event."""
        return {
            name: _planned(name, spec, self.typed_properties(name))
            for name in [*self.platform_events, *self.events]
            if (spec := self.spec(name)) is not None
        }

    @cached_property
    def traits_index(self) -> Planned:
        return _planned(TRAITS, None, dict(self.traits))

    @cached_property
    def mode_cache(self) -> dict[str, Mapping[str, str]]:
        return {}

    def planned(self, event: str) -> Planned | None:
        """What the checks read of ``event``; None when the plan does not have it."""
        return self.index.get(event)

    def modes_for(self, source_id: str) -> Mapping[str, str]:
        """Finding kind → mode for this source: its overrides, then the plan's defaults, then
        ``flag``."""
        modes = self.mode_cache.get(source_id)
        if modes is None:
            merged = {kind: DEFAULT_MODE for kind in KINDS}
            merged.update(self.enforcement.default)
            merged.update(self.enforcement.sources.get(source_id, {}))
            modes = self.mode_cache[source_id] = MappingProxyType(merged)
        return modes


def plan_data(text: str) -> dict[str, Any]:
    """The YAML's mapping, without the top-level ``x-`` keys: those hold declarations that the
    plan reuses through YAML anchors (``amount: *amount``), and are no part of the plan."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError("a tracking plan is a YAML mapping")
    return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}


def parse_plan(text: str) -> TrackingPlan:
    return TrackingPlan.model_validate(plan_data(text))


@lru_cache(maxsize=4)
def load_plan(path: Path = PLAN_PATH) -> TrackingPlan:
    return parse_plan(path.read_text(encoding="utf-8"))
