"""The tracking plan as the warehouse reads it: event names and property types.

Simple YAML for now (``tracking_plan.yaml`` beside this module); governance will own the plan and
its checks later. The warehouse only needs the types, to generate typed per-event views: it never
refuses data because of the plan.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, field_validator

PLAN_PATH = Path(__file__).with_name("tracking_plan.yaml")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
BIGQUERY_TYPES = {
    "string": "STRING",
    "number": "FLOAT64",
    "integer": "INT64",
    "boolean": "BOOL",
    "timestamp": "TIMESTAMP",
}


def _snake_case_keys(value: dict[str, object]) -> dict[str, object]:
    bad = [name for name in value if not SNAKE_CASE.match(name)]
    if bad:
        raise ValueError(f"names must be snake_case: {', '.join(sorted(bad))}")
    return value


class Property(BaseModel):
    type: str
    required: bool = False
    description: str = ""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in BIGQUERY_TYPES:
            raise ValueError(f"unknown type {value!r}; one of {', '.join(BIGQUERY_TYPES)}")
        return value

    @property
    def bigquery_type(self) -> str:
        return BIGQUERY_TYPES[self.type]


class EventSpec(BaseModel):
    description: str = ""
    properties: dict[str, Property] = Field(default_factory=dict)

    _names = field_validator("properties")(_snake_case_keys)


class TrackingPlan(BaseModel):
    version: int = 1
    common_properties: dict[str, Property] = Field(default_factory=dict)
    traits: dict[str, Property] = Field(default_factory=dict)
    events: dict[str, EventSpec] = Field(default_factory=dict)

    _common = field_validator("common_properties", "traits", "events")(_snake_case_keys)

    def typed_properties(self, event: str) -> dict[str, Property]:
        """Common properties, then the event's own (which win on a name clash)."""
        return {**self.common_properties, **self.events[event].properties}


def parse_plan(text: str) -> TrackingPlan:
    return TrackingPlan.model_validate(yaml.safe_load(text) or {})


@lru_cache(maxsize=4)
def load_plan(path: Path = PLAN_PATH) -> TrackingPlan:
    return parse_plan(path.read_text(encoding="utf-8"))
