"""Amplitude HTTP API V2 (``POST /2/httpapi``): Segment events → Amplitude events.

The contract (Amplitude's HTTP V2 and "Batch and retry" pages, and its Python SDK's answer
handling):

- ``insert_id`` is the Segment ``messageId``: Amplitude ignores an event that repeats an
  ``insert_id`` (on the same device) within 7 days, so a retry or a replay counts once.
- ``user_id`` is ``userId``, ``device_id`` is ``anonymousId`` (else ``context.device.id``); one of
  them is required. Ids shorter than 5 characters are dropped by Amplitude unless the request
  says ``options.min_id_length``, which is then set to the shortest id the request carries. An
  all-zero device id (an iOS IDFA with Limit Ad Tracking) is refused by Amplitude: left out.
- ``time`` is milliseconds since the epoch.
- Per request: at most 2,000 events and under 1 MB (else 413).
- A 400 rejects the whole request and names the events at fault by index
  (``events_with_invalid_fields``, ``events_with_missing_fields``,
  ``events_with_invalid_id_lengths``, ``silenced_events``): those are refused, and the others
  were not ingested either, so ``resend_without`` builds the request of the rest for the runner.
- A 429 (over 30 events per second for one user or device) retries after Retry-After, else 30 s.

Call types: track → its name; page → ``Page Viewed``; screen → ``Screen Viewed`` (the page's or
screen's name and ``context.page`` fields in the event properties); identify → ``$identify``
with ``user_properties.$set`` = traits; group → ``$identify`` putting the user in the group
(``groups`` and ``$set`` of the group type, ``company``) and, with traits, ``$groupidentify``
setting the group's properties (``insert_id`` = messageId + ``:group``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.destinations.delivery import Outcome, json_object
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
    Verdict,
    default_verdict,
)
from shared.envelope import dumps
from shared.ports.http import HttpResponse
from shared.tiering.ga4 import event_time

DEFAULT_ENDPOINT = "https://api2.amplitude.com"
PATH = "/2/httpapi"
USERMAP_HOST = "https://api.amplitude.com"  # user mapping is on the API host, not api2
USERMAP_PATH = "/usermap"
MAX_EVENTS = 2000
MAX_BODY_BYTES = 1_000_000  # "under 1 MB"
MAX_MAPPINGS = 2000
MIN_ID_LENGTH = 5
THROTTLE_SECONDS = 30.0  # Amplitude: stop sending for that user or device for 30 s
GROUP_TYPE = "company"
GROUP_SUFFIX = ":group"
CALL_NAMES = {"page": "Page Viewed", "screen": "Screen Viewed"}
PAGE_FIELDS = ("url", "path", "title", "referrer", "search")
ZERO_ID = re.compile(r"^[0\-]+$")
CONTEXT_FIELDS = (
    ("os_name", "os", "name"), ("os_version", "os", "version"),
    ("device_model", "device", "model"), ("device_manufacturer", "device", "manufacturer"),
    ("app_version", "app", "version"), ("carrier", "network", "carrier"),
    ("country", "location", "country"), ("region", "location", "region"),
    ("city", "location", "city"), ("language", "", "locale"), ("ip", "", "ip"),
    ("user_agent", "", "userAgent"),
)  # fmt: skip
AD_IDS = {"ios": "idfa", "ipados": "idfa", "android": "adid"}
REVENUE_FIELDS = (("product_id", "productId"), ("productId", "productId"),
                  ("revenue_type", "revenueType"), ("revenueType", "revenueType"),
                  ("currency", "currency"))  # fmt: skip

NO_ID = "neither userId nor anonymousId: Amplitude needs a user_id or a device_id"
NO_EVENT_NAME = "a track without an event name: Amplitude needs an event_type"
NO_GROUP_ID = "a group call without a groupId"
NO_TRAITS = "an identify without traits sets nothing in Amplitude"
TOO_LARGE = "the event alone is over Amplitude's 1 MB request limit"
INDEX_FIELDS = {
    "events_with_invalid_fields": "invalid {field}",
    "events_with_missing_fields": "missing {field}",
    "events_with_invalid_id_lengths": "{field} shorter than min_id_length",
}

AmplitudeEvent = dict[str, Any]


class AmplitudeSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_AMPLITUDE_", extra="ignore")

    endpoint: str = DEFAULT_ENDPOINT
    api_key: str = Field(default="", repr=False)
    secret_key: str = Field(default="", repr=False)  # the deletion API (privacy requests)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value) if str(value) else None
    return None


def _section(container: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def identity_fields(event: Event) -> dict[str, str]:
    """``user_id`` and ``device_id``, whichever the event has; never an all-zero device id,
    which Amplitude refuses with the whole request."""
    found: dict[str, str] = {}
    user = _text(event.get("userId"))
    if user:
        found["user_id"] = user
    device = _text(event.get("anonymousId")) or _text(
        _section(_section(event, "context"), "device").get("id")
    )
    if device and not ZERO_ID.match(device):
        found["device_id"] = device
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def context_fields(event: Event) -> dict[str, Any]:
    """What Amplitude reads about the device and place, from Segment's ``context``."""
    context = _section(event, "context")
    found: dict[str, Any] = {}
    for theirs, section, ours in CONTEXT_FIELDS:
        value = _text((_section(context, section) if section else context).get(ours))
        if value:
            found[theirs] = value
    app, os, device = (_section(context, n) for n in ("app", "os", "device"))
    platform = "Web" if context.get("page") or not app else _text(os.get("name"))
    if platform:
        found["platform"] = platform
    ad_id = AD_IDS.get((_text(os.get("name")) or "").lower())
    if ad_id and _text(device.get("advertisingId")):
        found[ad_id] = _text(device.get("advertisingId"))
    library = _section(context, "library")
    if _text(library.get("name")):
        found["library"] = f"{library['name']}/{library.get('version', '')}".rstrip("/")
    location = _section(context, "location")
    for ours, theirs in (("latitude", "location_lat"), ("longitude", "location_lng")):
        if _number(location.get(ours)):
            found[theirs] = float(location[ours])
    return found


def revenue_fields(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Amplitude's own revenue fields, so its revenue charts count the event."""
    found: dict[str, Any] = {k: float(properties[k]) for k in ("revenue", "price")
                             if _number(properties.get(k))}  # fmt: skip
    if not found:
        return {}
    if isinstance(properties.get("quantity"), int) and _number(properties["quantity"]):
        found["quantity"] = properties["quantity"]
    for ours, theirs in REVENUE_FIELDS:
        value = _text(properties.get(ours))
        if value and theirs not in found:
            found[theirs] = value
    return found


def _base(event: Event, ids: Mapping[str, str], millis: int) -> AmplitudeEvent:
    return {**ids, "time": millis, "insert_id": str(event["messageId"]), **context_fields(event)}


def amplitude_events(event: Event, millis: int) -> list[AmplitudeEvent] | str:
    """The Amplitude events for one Segment event, or why it can never be sent."""
    ids = identity_fields(event)
    if not ids:
        return NO_ID
    kind = event.get("type")
    properties = dict(_section(event, "properties"))
    context_traits = dict(_section(_section(event, "context"), "traits"))
    base = _base(event, ids, millis)
    if kind == "track":
        name = _text(event.get("event"))
        if not name:
            return NO_EVENT_NAME
        found = {**base, "event_type": name, **revenue_fields(properties)}
    elif kind in CALL_NAMES:
        page = _section(_section(event, "context"), "page")
        extra = {k: page[k] for k in PAGE_FIELDS if k in page and kind == "page"}
        named = {"name": event["name"]} if _text(event.get("name")) else {}
        found = {**base, "event_type": CALL_NAMES[kind]}
        properties = {**extra, **named, **properties}
    elif kind == "identify":
        traits = dict(_section(event, "traits"))
        if not traits:
            return NO_TRAITS
        return [{**base, "event_type": "$identify", "user_properties": {"$set": traits}}]
    elif kind == "group":
        return _group(event, base)
    else:
        return f"{kind!r} calls are not sent to Amplitude"
    if properties:
        found["event_properties"] = properties
    if context_traits:
        found["user_properties"] = {"$set": context_traits}
    return [found]


def _group(event: Event, base: AmplitudeEvent) -> list[AmplitudeEvent] | str:
    group = _text(event.get("groupId"))
    if not group:
        return NO_GROUP_ID
    groups = {GROUP_TYPE: group}
    join = {**base, "event_type": "$identify", "groups": groups,
            "user_properties": {"$set": groups}}  # fmt: skip
    traits = dict(_section(event, "traits"))
    if not traits:
        return [join]
    properties = {**base, "insert_id": base["insert_id"] + GROUP_SUFFIX,
                  "event_type": "$groupidentify", "groups": groups,
                  "group_properties": {"$set": traits}}  # fmt: skip
    return [join, properties]


@dataclass
class _Unit:
    """One Segment event's Amplitude events, written once, kept together in one request."""

    message_id: str
    texts: list[bytes]
    shortest_id: int
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = sum(len(t) + 1 for t in self.texts)


def body(api_key: str, texts: Sequence[bytes], shortest_id: int) -> bytes:
    options = b""
    if shortest_id < MIN_ID_LENGTH:
        options = b',"options":' + dumps({"min_id_length": max(1, shortest_id)})
    return (b'{"api_key":' + dumps(api_key) + b',"events":[' + b",".join(texts) + b"]"
            + options + b"}")  # fmt: skip


class AmplitudeTransform(Transform):
    name = "amplitude"
    settings_class = AmplitudeSettings
    event_types = ("track", "page", "screen", "identify", "group")
    consent_category = "analytics"
    provider_dedup = True  # insert_id

    @property
    def amplitude(self) -> AmplitudeSettings:
        return cast(AmplitudeSettings, self.settings)

    def remainder(self, request: Request, refused: Mapping[str, str]) -> Request | None:
        return resend_without(request, refused)

    def missing(self) -> list[str]:
        return [] if self.amplitude.api_key else ["CDP_AMPLITUDE_API_KEY"]

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        prepared = Prepared()
        now = self.clock.now()
        overhead = len(body(self.amplitude.api_key, [], 0))
        units: list[_Unit] = []
        for event in events:
            message_id = str(event.get("messageId"))
            millis = int((event_time(event) or now).timestamp() * 1000)
            mapped = amplitude_events(event, millis)
            if isinstance(mapped, str):
                target = prepared.skipped if mapped == NO_TRAITS else prepared.refused
                target[message_id] = mapped
                continue
            unit = _Unit(message_id, [dumps(e) for e in mapped], _shortest(mapped))
            if unit.size + overhead + 40 > MAX_BODY_BYTES:
                prepared.refused[message_id] = TOO_LARGE
                continue
            units.append(unit)
        prepared.requests = [self._request(group) for group in _grouped(units, overhead + 40)]
        return prepared

    def _request(self, units: Sequence[_Unit]) -> Request:
        texts = [t for u in units for t in u.texts]
        shortest = min(u.shortest_id for u in units)
        return Request(
            "POST",
            self.amplitude.endpoint.rstrip("/") + PATH,
            {"Content-Type": "application/json", "Accept": "*/*"},
            body(self.amplitude.api_key, texts, shortest),
            tuple(u.message_id for u in units),
        )

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        if response.status == 400:
            named = refused_by_answer(request, json_object(response.body))
            if named:
                return Verdict(Outcome.PERMANENT, "Amplitude refused some events", named)
        if response.status == 429:
            found = default_verdict(response)
            wait = found.retry_after_seconds or THROTTLE_SECONDS
            return Verdict(Outcome.RETRY, found.reason, retry_after_seconds=wait)
        return default_verdict(response)


def _shortest(events: Sequence[AmplitudeEvent]) -> int:
    lengths = [len(e[k]) for e in events for k in ("user_id", "device_id") if k in e]
    return min(lengths, default=MIN_ID_LENGTH)


def _grouped(units: Sequence[_Unit], overhead: int) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    size = count = 0
    for unit in units:
        n = len(unit.texts)
        if not groups or count + n > MAX_EVENTS or size + unit.size + overhead > MAX_BODY_BYTES:
            groups.append([])
            size = count = 0
        groups[-1].append(unit)
        size, count = size + unit.size, count + n
    return groups


def _message_id(insert_id: Any, message_ids: Sequence[str]) -> str | None:
    text = str(insert_id)
    if text in message_ids:
        return text
    if text.endswith(GROUP_SUFFIX) and text[: -len(GROUP_SUFFIX)] in message_ids:
        return text[: -len(GROUP_SUFFIX)]
    return None


def _indexes(answer: Mapping[str, Any]) -> dict[int, list[str]]:
    """Event index → what Amplitude's 400 says is wrong with it (nothing if the body is odd)."""
    reasons: dict[int, list[str]] = {}
    try:
        for key, template in INDEX_FIELDS.items():
            for name, indexes in dict(answer.get(key) or {}).items():
                for i in indexes or []:
                    reasons.setdefault(int(i), []).append(template.format(field=name))
        for i in answer.get("silenced_events") or []:
            reasons.setdefault(int(i), []).append("silenced device")
    except (TypeError, ValueError, AttributeError):
        return {}
    return reasons


def refused_by_answer(request: Request, answer: Mapping[str, Any]) -> dict[str, str]:
    """messageId → reason for each event a 400 names by its index in the request."""
    sent = json_object(request.body).get("events") or []
    named: dict[str, list[str]] = {}
    for i, why in sorted(_indexes(answer).items()):
        found = (
            _message_id(sent[i].get("insert_id"), request.message_ids)
            if 0 <= i < len(sent)
            else None
        )
        if found is not None:
            named.setdefault(found, []).extend(why)
    return {m: "Amplitude: " + ", ".join(why) for m, why in named.items()}


def resend_without(
    request: Request, refused_ids: Sequence[str] | Mapping[str, str]
) -> Request | None:
    """The same request without the refused events, or None when nothing is left. Amplitude's
    400 rejects the whole request, so the events it did not name must be sent again (their
    insert_ids make that safe even if some had been counted)."""
    refused = set(refused_ids)
    payload = json_object(request.body)
    kept = [e for e in payload.get("events") or []
            if _message_id(e.get("insert_id"), request.message_ids) not in refused]  # fmt: skip
    remaining = tuple(m for m in request.message_ids if m not in refused)
    if not kept or not remaining:
        return None
    texts = [dumps(e) for e in kept]
    shortest = int((payload.get("options") or {}).get("min_id_length", MIN_ID_LENGTH))
    new_body = body(str(payload.get("api_key", "")), texts, shortest)
    return Request(request.method, request.url, dict(request.headers), new_body, remaining)


def usermap_request(
    settings: AmplitudeSettings, pairs: Sequence[tuple[str, str]], unmap: bool = False
) -> list[Request]:
    """Requests mapping each ``(user_id, global_user_id)`` (a merge: the merged-away user id onto
    the survivor's), or removing those mappings. Form-encoded, at most 2,000 mappings and 1 MB
    each, on the API host (``api.amplitude.com``, or the configured endpoint when it is not
    Amplitude's default, e.g. the EU host or a stand-in)."""
    base = settings.endpoint.rstrip("/")
    url = (USERMAP_HOST if base == DEFAULT_ENDPOINT else base) + USERMAP_PATH
    rows = [{"user_id": u, "global_user_id": g, **({"unmap": True} if unmap else {})}
            for u, g in pairs]  # fmt: skip
    requests: list[Request] = []
    for start in range(0, len(rows), MAX_MAPPINGS):
        chunk = rows[start : start + MAX_MAPPINGS]
        form = urlencode({"api_key": settings.api_key, "mapping": json.dumps(chunk)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        requests.append(Request("POST", url, headers, form, ()))
    return requests
