"""Slack templates: which template an event takes, and the condition a template may carry.

``CDP_SLACK_TEMPLATES`` maps a track name or an audience key to a template, either its text
(``"{userId} cancelled"``) or an object with the text and a condition::

    {"churn_risk": {"text": "{userId} is at risk ({properties.transaction_volume_30d})",
                    "when": {"event": "Audience Entered", "properties.high_value": true}}}

``when`` names fields as placeholders do (``event``, ``userId``, ``properties.x``,
``traits.x``, ``profileId``, nested keys joined by dots) and gives the value each must have,
compared as JSON values (``true`` is not ``1`` nor ``"true"``), or a list of values one of which
it must have. Every condition must hold. An event whose template's condition fails is not sent
and not an error: it is skipped with the reason (``cdp destinations status`` counts it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.audiences.names import AUDIENCE_EVENTS as AUDIENCE_EVENTS
from shared.destinations.framework import Event, Person

Scalar = str | int | float | bool | None
NOT_MET = "the {key!r} template is for {field} = {wanted}; this event's is {found}"
ABSENT = "absent"


class SlackTemplate(BaseModel):
    """A template with a condition; a plain string in the setting is one without."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    when: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)

    @field_validator("when")
    @classmethod
    def _named_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not name or any(not part for part in name.split(".")):
                raise ValueError(f"{name!r} is not a field name (e.g. properties.high_value)")
        return value


Template = str | SlackTemplate


def template_for(
    event: Event, templates: Mapping[str, Template]
) -> tuple[str, SlackTemplate] | None:
    """(key, template) for ``event``: its audience's, else its event name's."""
    name = event.get("event")
    found: tuple[str, Template] | None = None
    if name in AUDIENCE_EVENTS:
        key = (event.get("properties") or {}).get("audience_key")
        if isinstance(key, str) and key in templates:
            found = key, templates[key]
    if found is None and isinstance(name, str) and name in templates:
        found = name, templates[name]
    if found is None:
        return None
    key, template = found
    return key, template if isinstance(template, SlackTemplate) else SlackTemplate(text=template)


def value_at(event: Event, person: Person, name: str) -> tuple[bool, Any]:
    """(present, value) of a field named as placeholders name it."""
    head, *rest = name.split(".")
    if head == "profileId" and not rest:
        return person.profile_id is not None, person.profile_id
    if head == "traits":
        context = event.get("context") or {}
        value: Any = {**person.traits, **(context.get("traits") or {}),
                      **(event.get("traits") or {})}  # fmt: skip
    elif head in event:
        value = event[head]
    else:
        return False, None
    for part in rest:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _same(found: Any, wanted: Any) -> bool:
    """Equal as JSON values: a boolean equals only a boolean."""
    if isinstance(found, bool) or isinstance(wanted, bool):
        return isinstance(found, bool) and isinstance(wanted, bool) and found is wanted
    return bool(found == wanted)


def unmet(key: str, template: SlackTemplate, event: Event, person: Person) -> str:
    """Why ``event`` does not meet the template's condition ("" when it does)."""
    for name, wanted in template.when.items():
        present, found = value_at(event, person, name)
        options = wanted if isinstance(wanted, list) else [wanted]
        if not (present and any(_same(found, option) for option in options)):
            shown = _shown(found) if present else ABSENT
            return NOT_MET.format(key=key, field=name, wanted=_shown(wanted), found=shown)
    return ""


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return type(value).__name__
