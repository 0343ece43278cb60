"""Segment event → GA4 Measurement Protocol payloads: pure functions, table-tested.

GA4's collect endpoint answers 2xx to anything, so the mapping has to be right by construction:
names (events and parameters) are ≤ 40 characters of letters, digits and underscores starting
with a letter, never a reserved name or prefix; ≤ 25 parameters per event, string values ≤ 100
characters; ``session_id`` and ``engagement_time_msec`` always set (GA4 reports nothing without
them); ``timestamp_micros`` never in the future and never older than GA4's 72-hour backdating
window (older events are left to the cold archive); ≤ 25 events and < 130 kB per request, one
``client_id`` per request. ``problems(payload)`` re-checks a payload against the same limits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

Event = dict[str, Any]
Payload = dict[str, Any]

MAX_NAME = 40
MAX_PARAMS = 25
MAX_VALUE = 100
MAX_EVENTS = 25
MAX_BODY_BYTES = 130_000
BACKDATE_WINDOW = timedelta(hours=72) - timedelta(minutes=15)  # margin for delivery delays
DEFAULT_ENGAGEMENT_MSEC = 100
SESSION_SECONDS = 30 * 60
RESERVED_EVENT_NAMES = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "screen_view",
        "session_start",
        "user_engagement",
    ]
)  # GA4 Measurement Protocol reference, "Reserved names"
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
VALID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")
_GA_COOKIE = re.compile(r"^GA\d\.\d+\.(\d+\.\d+)$")
CALL_NAMES = {"page": "page_view", "screen": "app_screen_view", "group": "join_group"}
OWN_PARAMS = ("session_id", "engagement_time_msec")
CAMPAIGN_PARAMS = (("name", "campaign"), ("source", "source"), ("medium", "medium"),
                   ("term", "term"), ("content", "content"))  # fmt: skip
PAGE_PARAMS = (("url", "page_location"), ("title", "page_title"), ("referrer", "page_referrer"))


def is_reserved(name: str, reserved_names: frozenset[str] = RESERVED_EVENT_NAMES) -> bool:
    return name in reserved_names or name.startswith(RESERVED_PREFIXES)


def ga4_name(raw: str, prefix: str, reserved_names: frozenset[str]) -> str:
    """A valid, unreserved GA4 name for ``raw`` ('Viewed Rates' → 'viewed_rates')."""
    name = _NOT_WORD.sub("_", raw).strip("_").lower()
    if not name:
        return f"{prefix}unnamed"
    if not name[0].isalpha():
        name = f"{prefix}{name}"
    if is_reserved(name, reserved_names):
        name = f"cdp_{name}"
    return name[:MAX_NAME]


def event_name(event: Event) -> str | None:
    kind = event.get("type")
    if kind in CALL_NAMES:
        return CALL_NAMES[kind]
    if kind == "track" and isinstance(event.get("event"), str):
        return ga4_name(event["event"], "e_", RESERVED_EVENT_NAMES)
    return None  # identify and alias carry no GA4 event


def param_value(value: Any) -> str | int | float | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_VALUE] if value else None
    return None  # objects and arrays have no GA4 equivalent outside items


def client_id_of(event: Event) -> str | None:
    """The GA client id the page's gtag set, when the app passed it on; else the anonymousId."""
    context = event.get("context") or {}
    integrations = event.get("integrations") or {}
    candidates: list[Any] = [
        (integrations.get("Google Analytics 4") or {}).get("clientId")
        if isinstance(integrations.get("Google Analytics 4"), dict) else None,
        context.get("ga_client_id") or context.get("gaClientId"),
        *(x.get("id") for x in context.get("externalIds") or [] if isinstance(x, dict)
          and x.get("type") == "ga_client_id"),
    ]  # fmt: skip
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            cookie = _GA_COOKIE.match(candidate)
            return cookie.group(1) if cookie else candidate
    anon = event.get("anonymousId")
    return str(anon) if anon not in (None, "") else None


def event_time(event: Event) -> datetime | None:
    for field in ("timestamp", "originalTimestamp", "receivedAt"):
        value = event.get(field)
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if parsed.tzinfo:
                return parsed
    return None


def session_id_of(event: Event, when: datetime) -> str:
    """The app's session id if it sent one; else the start of the 30-minute slot (per client)."""
    context = event.get("context") or {}
    properties = event.get("properties") or {}
    for value in (properties.get("session_id"), context.get("session_id"),
                  context.get("sessionId")):  # fmt: skip
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:MAX_VALUE]
    return str(int(when.timestamp()) // SESSION_SECONDS * SESSION_SECONDS)


def params_of(event: Event, when: datetime) -> dict[str, str | int | float]:
    properties = event.get("properties") or {}
    context = event.get("context") or {}
    page = context.get("page") or {}
    engagement = properties.get("engagement_time_msec")
    params: dict[str, str | int | float] = {
        "session_id": session_id_of(event, when),
        "engagement_time_msec": engagement
        if isinstance(engagement, int) and not isinstance(engagement, bool) and engagement > 0
        else DEFAULT_ENGAGEMENT_MSEC,
    }
    used = {"session_id", "engagement_time_msec"}
    if event.get("type") == "page":
        for field, name in PAGE_PARAMS:
            value = param_value(properties.get(field) or page.get(field))
            if name == "page_title" and value is None:
                value = param_value(event.get("name"))
            if value is not None:
                params[name] = value
            used.add(field)
    elif event.get("type") == "screen" and param_value(event.get("name")) is not None:
        params["screen_name"] = param_value(event.get("name"))  # type: ignore[assignment]
    elif event.get("type") == "group" and param_value(event.get("groupId")) is not None:
        params["group_id"] = param_value(event.get("groupId"))  # type: ignore[assignment]
    campaign = context.get("campaign") or {}
    for field, name in CAMPAIGN_PARAMS:
        value = param_value(campaign.get(field)) if isinstance(campaign, dict) else None
        if value is not None:
            params[name] = value
    for raw, value in properties.items():
        if len(params) >= MAX_PARAMS:
            break
        name = ga4_name(str(raw), "p_", RESERVED_PARAM_NAMES)
        mapped = param_value(value)
        if raw not in used and name not in params and mapped is not None:
            params[name] = mapped
    return params


def to_ga4_event(event: Event, now: datetime) -> Payload | None:
    """One GA4 event, or None when it has no GA4 form or is too old for GA4 to accept."""
    name = event_name(event)
    when = event_time(event) or now
    if name is None or now - when > BACKDATE_WINDOW:
        return None
    when = min(when, now)
    return {
        "name": name,
        "params": params_of(event, when),
        "timestamp_micros": int(when.timestamp() * 1_000_000),
    }


def build_requests(events: Iterable[Event], now: datetime) -> tuple[list[Payload], int]:
    """GA4 request bodies (one client each, ≤ 25 events, < 130 kB) and how many events had no
    acceptable GA4 form (kept in the cold archive only)."""
    by_client: dict[str, list[Payload]] = {}
    skipped = 0
    for event in events:
        client = client_id_of(event)
        mapped = to_ga4_event(event, now) if client else None
        if client is None or mapped is None:
            skipped += 1
            continue
        by_client.setdefault(client, []).append(mapped)
    requests: list[Payload] = []
    for client, mapped_events in by_client.items():
        for start in range(0, len(mapped_events), MAX_EVENTS):
            chunk = mapped_events[start : start + MAX_EVENTS]
            requests += _fit({"client_id": client, "events": chunk})
    return requests, skipped


def _fit(payload: Payload) -> list[Payload]:
    if len(body(payload)) < MAX_BODY_BYTES or len(payload["events"]) == 1:
        return [payload]
    half = len(payload["events"]) // 2
    return _fit({**payload, "events": payload["events"][:half]}) + _fit(
        {**payload, "events": payload["events"][half:]}
    )


def body(payload: Payload) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def problems(payload: Payload) -> list[str]:
    """What GA4 would refuse in ``payload`` (empty when it is valid)."""
    found: list[str] = []
    events: Sequence[Payload] = payload.get("events") or []
    if not payload.get("client_id"):
        found.append("client_id is required")
    if not 1 <= len(events) <= MAX_EVENTS:
        found.append(f"a request holds 1 to {MAX_EVENTS} events, not {len(events)}")
    if len(body(payload)) >= MAX_BODY_BYTES:
        found.append("the body is 130 kB or more")
    for i, event in enumerate(events):
        name, params = str(event.get("name", "")), event.get("params") or {}
        if not VALID_NAME.match(name) or is_reserved(name):
            found.append(f"event {i}: invalid or reserved name {name!r}")
        if len(params) > MAX_PARAMS:
            found.append(f"event {i}: {len(params)} params")
        for key, value in params.items():
            if not VALID_NAME.match(key) or is_reserved(key, RESERVED_PARAM_NAMES):
                found.append(f"event {i}: invalid or reserved param name {key!r}")
            if isinstance(value, str) and len(value) > MAX_VALUE:
                found.append(f"event {i}: param {key!r} longer than {MAX_VALUE}")
    return found


# Who a request is about: shared by every Measurement Protocol sender (the real-time `firebase`
# destination sends these; the cold forwarder sends client_id only). GA4 forbids PII in
# user_id and user properties, so neither ever carries an email, a phone or a name.

MAX_USER_ID = 256
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME = 24
MAX_USER_PROPERTY_VALUE = 36
RESERVED_USER_PROPERTIES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
     "first_open_after_install"}
)  # fmt: skip
USER_PROPERTY_PREFIXES = ("google_", "ga_", "firebase_")
PII_TRAITS = frozenset(
    {"address", "birthday", "email", "firstname", "first_name", "lastname", "last_name", "name",
     "phone", "username", "avatar", "ssn", "national_id"}
)  # fmt: skip
_PII_NAMES = frozenset(name.replace("_", "") for name in PII_TRAITS)
VALID_USER_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,23}$")
APP_INSTANCE_ID = re.compile(r"^[0-9A-Fa-f]{32}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def looks_personal(value: str) -> bool:
    """An email address or a phone number, which GA4's terms forbid sending."""
    return bool(_EMAIL.search(value) or _PHONE.match(value.strip()))


def user_id_of(event: Event) -> str | None:
    """The Segment userId when GA4 may take it: ≤ 256 characters and not an email or phone."""
    value = event.get("userId")
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        return None
    text = str(value)
    return None if len(text) > MAX_USER_ID or looks_personal(text) else text


def app_instance_id_of(event: Event) -> str | None:
    """The Firebase SDK's app instance id (32 hex digits), which only the app can read
    (``FirebaseAnalytics.getAppInstanceId``): passed on in ``integrations.Firebase.appInstanceId``
    or ``context.externalIds[{type: "app_instance_id"}]``. ``context.device.id`` is not it."""
    integrations = event.get("integrations") or {}
    firebase = integrations.get("Firebase") if isinstance(integrations, dict) else None
    context = event.get("context") or {}
    candidates: list[Any] = [firebase.get("appInstanceId") if isinstance(firebase, dict) else None]
    candidates += [x.get("id") for x in context.get("externalIds") or []
                   if isinstance(x, dict) and x.get("type") == "app_instance_id"]  # fmt: skip
    for candidate in candidates:
        if isinstance(candidate, str) and APP_INSTANCE_ID.match(candidate):
            return candidate.lower()
    return None


def user_property_name(raw: str) -> str | None:
    name = _NOT_WORD.sub("_", raw).strip("_").lower()[:MAX_USER_PROPERTY_NAME]
    if not VALID_USER_PROPERTY.match(name) or name in RESERVED_USER_PROPERTIES:
        return None
    return None if name.startswith(USER_PROPERTY_PREFIXES) else name


def user_properties_of(traits: Mapping[str, Any]) -> dict[str, dict[str, str | int | float]]:
    """GA4 ``user_properties`` from a profile's traits: scalar, non-personal ones only, names
    ≤ 24 characters, string values ≤ 36, at most 25."""
    found: dict[str, dict[str, str | int | float]] = {}
    for raw, value in traits.items():
        name = user_property_name(str(raw))
        if name is None or name.replace("_", "") in _PII_NAMES:
            continue
        mapped = param_value(value)
        if isinstance(mapped, str):
            if looks_personal(mapped):
                continue
            mapped = mapped[:MAX_USER_PROPERTY_VALUE]
        if mapped is not None and name not in found:
            found[name] = {"value": mapped}
        if len(found) == MAX_USER_PROPERTIES:
            break
    return found


def identity_problems(payload: Payload) -> list[str]:
    """What GA4 would refuse about who a payload is for: the device id of its stream, user_id,
    user_properties (``problems`` checks the events)."""
    found: list[str] = []
    app = payload.get("app_instance_id")
    if app is not None and not (isinstance(app, str) and APP_INSTANCE_ID.match(app)):
        found.append("app_instance_id is not 32 hexadecimal digits")
    user_id = payload.get("user_id")
    if user_id is not None and not (isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID):
        found.append(f"user_id is not a string of 1 to {MAX_USER_ID} characters")
    properties = payload.get("user_properties") or {}
    if len(properties) > MAX_USER_PROPERTIES:
        found.append(f"{len(properties)} user properties")
    for name, holder in properties.items():
        value = holder.get("value") if isinstance(holder, dict) else None
        if user_property_name(name) != name:
            found.append(f"invalid or reserved user property name {name!r}")
        if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE:
            found.append(f"user property {name!r} longer than {MAX_USER_PROPERTY_VALUE}")
    return found
