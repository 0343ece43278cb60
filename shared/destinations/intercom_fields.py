"""What Intercom keeps of Segment's fields, as its REST API 2.x documents them: who a contact
is (``external_id`` = userId, else an email), flat values (no nested JSON: strings up to 255,
numbers, booleans where the field takes them, ``*_date`` Unix seconds, links and amounts), the
contact's standard fields and custom attributes, a company's, a data event's ``metadata`` (the
first 10 keys), and the data type a custom attribute is declared with (Intercom stores only
declared custom attributes)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.destinations.framework import Event, Person

MAX_METADATA = 10
MAX_TEXT = 255
KEY_FORBIDDEN = re.compile(r"[.$~`!@#%^&*'{}|\\\"\x00]")
CONTACT_FIELDS = {"email", "name", "phone", "avatar", "firstName", "first_name", "lastName",
                  "last_name", "createdAt", "created_at", "id", "userId", "company"}  # fmt: skip
COMPANY_FIELDS = {"name": "name", "plan": "plan", "industry": "industry", "website": "website"}
COMPANY_NUMBERS = {"employees": "size", "size": "size", "monthly_spend": "monthly_spend"}


def text_of(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def section(container: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value / 1000 if value > 10**11 else value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def identity(event: Event, person: Person) -> dict[str, str] | None:
    """How Intercom finds the person: ``external_id`` = userId, else an email (the event's
    traits, then the profile's)."""
    user = text_of(event.get("userId"))
    if user:
        return {"external_id": user}
    for traits in (section(event, "traits"), section(section(event, "context"), "traits"),
                   person.traits):  # fmt: skip
        email = text_of(traits.get("email"))
        if email:
            return {"email": email}
    return None


def flat_value(key: str, value: Any, booleans: bool) -> Any:
    """A value Intercom keeps: strings (≤ 255), numbers, Unix seconds for ``*_date``, a rich
    link ``{url, value}`` or an amount ``{amount, currency}``; booleans where the field takes
    them (custom attributes); anything else as text (Intercom stores no nested JSON)."""
    if key.endswith("_date") and _seconds(value) is not None:
        return _seconds(value)
    if isinstance(value, bool):
        return value if booleans else ("true" if value else "false")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, dict) and set(value) in ({"url", "value"}, {"amount", "currency"}):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)[:MAX_TEXT]


def flat(values: Mapping[str, Any], limit: int = 0, booleans: bool = True) -> dict[str, Any]:
    """Keys Intercom accepts (no ``.``, ``$`` and the other characters it forbids), in order,
    at most ``limit`` of them (0: all); empty values left out."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        name = KEY_FORBIDDEN.sub("_", str(key))
        if value is None or name in found or (limit and len(found) >= limit):
            continue
        found[name] = flat_value(name, value, booleans)
    return found


def contact_attributes(traits: Mapping[str, Any]) -> dict[str, Any]:
    """Standard fields (email, name, phone, avatar, signed_up_at) and the rest as custom
    attributes (which Intercom needs defined as data attributes)."""
    first, last = (text_of(traits.get(k)) or text_of(traits.get(j)) for k, j in
                   (("firstName", "first_name"), ("lastName", "last_name")))  # fmt: skip
    name = text_of(traits.get("name")) or " ".join(p for p in (first, last) if p) or None
    found: dict[str, Any] = {k: text_of(traits.get(k)) for k in ("email", "phone", "avatar")}
    found["name"] = name
    found["signed_up_at"] = _seconds(traits.get("createdAt") or traits.get("created_at"))
    found = {k: v for k, v in found.items() if v is not None}
    custom = flat({k: v for k, v in traits.items() if k not in CONTACT_FIELDS})
    return {**found, "custom_attributes": custom} if custom else found


def company_body(group_id: str, traits: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"company_id": group_id}
    for ours, theirs in COMPANY_FIELDS.items():
        if text_of(traits.get(ours)):
            found[theirs] = text_of(traits.get(ours))
    for ours, theirs in COMPANY_NUMBERS.items():
        if isinstance(traits.get(ours), int | float) and not isinstance(traits[ours], bool):
            found.setdefault(theirs, int(traits[ours]))
    created = _seconds(traits.get("createdAt") or traits.get("created_at"))
    if created is not None:
        found["remote_created_at"] = created
    known = {*COMPANY_FIELDS, *COMPANY_NUMBERS, "createdAt", "created_at"}
    custom = flat({k: v for k, v in traits.items() if k not in known})
    return {**found, "custom_attributes": custom} if custom else found


def data_event(event: Event, who: Mapping[str, str], seconds: int) -> dict[str, Any]:
    person = {"user_id": who["external_id"]} if "external_id" in who else {"email": who["email"]}
    found: dict[str, Any] = {"event_name": str(event["event"]), "created_at": seconds, **person}
    metadata = flat(section(event, "properties"), MAX_METADATA, booleans=False)
    return {**found, "metadata": metadata} if metadata else found


def data_type(key: str, value: Any) -> str:
    """The type Intercom's Data Attributes API declares a custom attribute with, from the flat
    value it will hold (``string``, ``integer``, ``float``, ``boolean``, ``date``)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "date" if key.endswith("_date") else "integer"
    if isinstance(value, float):
        return "float"
    return "string"
