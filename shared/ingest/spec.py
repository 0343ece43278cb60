"""The Segment spec's six calls as pydantic models, discriminated on ``type``.

Tolerant of what real SDKs send: unknown fields are accepted (and ignored by the check, which
is cheaper than copying them: the event forwarded is the original dict), ``null`` stands
for absent, ids may be numbers, timestamps may end in ``Z`` or ``+00:00``, with or without
milliseconds (or be epoch numbers). The models only *check* an event: ingest forwards the
original dict so that no field an SDK sent is lost or reshaped on the way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

Id = StrictStr | StrictInt | StrictFloat
Object = dict[str, Any]
SPEC_PROBLEM = "{field}: {message}"


class Call(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messageId: Id | None = None
    userId: Id | None = None
    anonymousId: Id | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: Object | None = None
    integrations: Object | None = None


class Track(Call):
    type: Literal["track"]
    event: Annotated[StrictStr, Field(min_length=1)]
    properties: Object | None = None


class Identify(Call):
    type: Literal["identify"]
    traits: Object | None = None


class Page(Call):
    type: Literal["page"]
    name: StrictStr | None = None
    category: StrictStr | None = None
    properties: Object | None = None


class Screen(Call):
    type: Literal["screen"]
    name: StrictStr | None = None
    category: StrictStr | None = None
    properties: Object | None = None


class Group(Call):
    type: Literal["group"]
    groupId: Id
    traits: Object | None = None


class Alias(Call):
    type: Literal["alias"]
    previousId: Id


AnyCall = Annotated[Track | Identify | Page | Screen | Group | Alias, Field(discriminator="type")]
CALL = TypeAdapter(AnyCall)


def parse_call(event: Object) -> Track | Identify | Page | Screen | Group | Alias:
    """Raises ``ValidationError``; ``spec_problem`` turns it into a reason an operator reads."""
    return CALL.validate_python(event)


def spec_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "event"
    return SPEC_PROBLEM.format(field=where, message=first["msg"])
