"""Which identifiers an event carries, normalised so that one person's ids compare equal.

Read from: ``userId``, ``anonymousId``, an alias's ``previousId`` (an anonymous id of the same
person), ``traits`` / ``context.traits`` (email, phone), ``context.device`` (id, advertisingId),
the Google Analytics client id in ``integrations``, and ``context.externalIds[{id, type}]``.
Blocked values (``null``, ``0``, ``anonymous``...) and values that do not parse (an email
without ``@``, a phone that is not a number) are dropped: they must never link two people.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import quote

from shared.identity.config import IdentityConfig

_EXTERNAL_TYPES = {  # context.externalIds types that name one of our own types
    "userid": "user_id",
    "user_id": "user_id",
    "anonymousid": "anonymous_id",
    "anonymous_id": "anonymous_id",
    "email": "email",
    "phone": "phone",
    "ga_client_id": "ga_client_id",
    "device_id": "device_id",
    "advertising_id": "advertising_id",
}
_GA_INTEGRATIONS = ("Google Analytics", "Google Analytics 4")
_SAFE_TYPE = re.compile(r"[^a-z0-9_]+")
MAX_VALUE_CHARS = 512  # a document id holds at most 1,500 bytes; no real id comes close


class Identifier(NamedTuple):
    type: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"

    @property
    def doc_id(self) -> str:
        """A Firestore document id: never contains a slash."""
        return f"{self.type}:{quote(self.value, safe='')}"

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """``type:value`` as operators write it (``email:a@b.c``)."""
        kind, sep, value = text.partition(":")
        if not sep or not kind or not value:
            raise ValueError(f"expected type:value, got {text!r}")
        return cls(kind, value)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def normalise_email(value: str) -> str | None:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and "." in domain and " " not in email else None


def normalise_phone(value: str, region: str) -> str | None:
    """E.164 (``+447700900123``), or None when it is not a possible number."""
    import phonenumbers  # imported on the first phone seen: keeps cold starts short

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise(kind: str, raw: Any, config: IdentityConfig) -> Identifier | None:
    text = _text(raw)
    if text is None:
        return None
    value: str | None = text
    if kind == "email":
        value = normalise_email(text)
    elif kind == "phone":
        value = normalise_phone(text, config.phone_region)
    elif kind in ("advertising_id", "device_id"):
        value = text.lower()
    if value is None or len(value) > MAX_VALUE_CHARS or config.is_blocked(kind, value):
        return None
    return Identifier(kind, value)


def _external_type(raw: Any) -> str | None:
    text = _text(raw)
    if text is None:
        return None
    lowered = text.lower()
    return _EXTERNAL_TYPES.get(lowered) or _SAFE_TYPE.sub("_", lowered).strip("_")[:64] or None


def raw_identifiers(event: dict[str, Any]) -> list[tuple[str, Any]]:
    """(type, raw value) pairs, before normalisation."""
    raw_context = event.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    found: list[tuple[str, Any]] = [
        ("user_id", event.get("userId")),
        ("anonymous_id", event.get("anonymousId")),
    ]
    if event.get("type") == "alias":  # the id the person had before: an anonymous id
        found.append(("anonymous_id", event.get("previousId")))
    for traits in (context.get("traits"), event.get("traits")):
        if isinstance(traits, dict):
            found += [("email", traits.get("email")), ("phone", traits.get("phone"))]
    device = context.get("device")
    if isinstance(device, dict):
        found.append(("device_id", device.get("id")))
        if device.get("adTrackingEnabled") is not False:
            found.append(("advertising_id", device.get("advertisingId")))
    integrations = event.get("integrations")
    if isinstance(integrations, dict):
        for name in _GA_INTEGRATIONS:
            options = integrations.get(name)
            if isinstance(options, dict):
                found.append(("ga_client_id", options.get("clientId")))
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict) and (kind := _external_type(item.get("type"))):
                found.append((kind, item.get("id")))
    return found


def identifiers_of(event: dict[str, Any], config: IdentityConfig) -> list[Identifier]:
    """The event's identifiers, normalised, deduplicated, highest priority first."""
    seen: dict[Identifier, None] = {}
    for kind, raw in raw_identifiers(event):
        identifier = normalise(kind, raw, config)
        if identifier is not None:
            seen.setdefault(identifier)
    return sorted(seen, key=lambda i: (config.rank(i.type), i.type, i.value))
