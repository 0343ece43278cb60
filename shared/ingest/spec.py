"""The Segment spec's six calls as pydantic models, discriminated on ``type``.

Tolerant of what real SDKs send: unknown fields are accepted (and ignored by the check, which
is cheaper than copying them: the event forwarded is the original dict), ``null`` stands
for absent, ids may be numbers, timestamps may end in ``Z`` or ``+00:00``, with or without
milliseconds (or be epoch numbers). The models only *check* an event: ingest forwards the
original dict so that no field an SDK sent is lost or reshaped on the way.

Why TypedDicts and not BaseModels, and why objects are checked but not copied: the check runs
on every event, and these two choices halve its cost (no model instance per event; no copy of
``context`` or ``properties``, which nobody reads from the checked call). A whole batch is
checked in one call (``parse_calls``), which raises if any event is invalid: callers then check
event by event, so one bad event never fails its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Required

from pydantic import (
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import core_schema
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

Id = StrictStr | StrictInt | StrictFloat
# A JSON object, checked as one without being copied; refused with pydantic's usual
# dict_type error ("Input should be a valid dictionary"), as ``dict[str, Any]`` would be.
_OBJECT = core_schema.custom_error_schema(
    core_schema.is_instance_schema(dict), custom_error_type="dict_type"
)
Object = Annotated[dict[str, Any], GetPydanticSchema(lambda _type, _handler: _OBJECT)]
SPEC_PROBLEM = "{field}: {message}"


@with_config(ConfigDict(extra="ignore"))
class Call(TypedDict, total=False):
    messageId: Id | None
    userId: Id | None
    anonymousId: Id | None
    timestamp: datetime | None
    originalTimestamp: datetime | None
    sentAt: datetime | None
    context: Object | None
    integrations: Object | None


class Track(Call, total=False):
    type: Required[Literal["track"]]
    event: Required[Annotated[StrictStr, Field(min_length=1)]]
    properties: Object | None


class Identify(Call, total=False):
    type: Required[Literal["identify"]]
    traits: Object | None


class Page(Call, total=False):
    type: Required[Literal["page"]]
    name: StrictStr | None
    category: StrictStr | None
    properties: Object | None


class Screen(Call, total=False):
    type: Required[Literal["screen"]]
    name: StrictStr | None
    category: StrictStr | None
    properties: Object | None


class Group(Call, total=False):
    type: Required[Literal["group"]]
    groupId: Required[Id]
    traits: Object | None


class Alias(Call, total=False):
    type: Required[Literal["alias"]]
    previousId: Required[Id]


AnyCall = Annotated[Track | Identify | Page | Screen | Group | Alias, Field(discriminator="type")]
CALL = TypeAdapter(AnyCall)
# The compiled validators: no Python wrapper per event (nor per batch).
_CALL_CORE = CALL.validator
_CALLS_CORE = TypeAdapter(list[AnyCall]).validator


def parse_call(event: dict[str, Any]) -> Call:
    """Raises ``ValidationError``; ``spec_problem`` turns it into a reason an operator reads."""
    return _CALL_CORE.validate_python(event)  # type: ignore[no-any-return]


def parse_calls(events: Sequence[dict[str, Any]]) -> list[Call]:
    """All of ``events`` checked in one call; raises ``ValidationError`` if any is invalid."""
    return _CALLS_CORE.validate_python(events)  # type: ignore[no-any-return]


def spec_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "event"
    return SPEC_PROBLEM.format(field=where, message=first["msg"])
