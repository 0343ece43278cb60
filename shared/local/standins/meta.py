"""A local stand-in for Meta's Conversions API: ``POST /{version}/{pixel_id}/events``.

Its checks are written from Meta's documentation (parameters, customer information, using the
API), not from ``shared.destinations.meta``, so the sender cannot hide a mistake behind the
same mistake here: ``event_name`` a standard event or a custom one (letters, digits, ``_``,
``-`` and spaces, at most 50 characters, as the pixel's custom events), ``custom_data`` an
object of standard and custom properties. Like Meta, one invalid event refuses the whole
request (400 with a Graph error body, ``error.code`` 100, the event's index in
``error_user_msg``); a wrong access token is code 190, an unknown pixel code 100 with subcode
33. Accepted requests answer ``{"events_received": n, "messages": [], "fbtrace_id": ...}``;
each event is delivered with its ``event_id`` as the key (Meta dedupes on it with the pixel's
eventID).

    python -m shared.local.standins.meta --port 8601
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.local.standins.base import Reply, StandIn

PIXEL_ID = "1234567890"
LOCAL_AUDIENCES = "direct_deposit"
ACCESS_TOKEN = "local-meta-token"
PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/events$")
MAX_EVENTS = 1000
WINDOW_SECONDS = 7 * 24 * 3600
ACTION_SOURCES = {"email", "website", "app", "phone_call", "chat", "physical_store",
                  "system_generated", "business_messaging", "other"}  # fmt: skip
HASHED = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id")
PLAIN = ("client_ip_address", "client_user_agent", "fbc", "fbp", "madid", "anon_id")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CUSTOM_NAME = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z _-]{0,49}$")
CURRENCY = re.compile(r"^[A-Za-z]{3}$")

BAD_TOKEN = "Invalid OAuth access token - Cannot parse access token"
NO_PIXEL = "Unsupported post request. Object with ID '{pixel}' does not exist"
NOT_JSON = "The request body is not a JSON object"
NO_DATA = "data must be a non-empty array of at most 1000 events"
NOT_EVENT = "the event is not an object"
NO_EVENT_NAME = "event_name is missing or not a valid event name"
SECONDS = "event_time must be a Unix timestamp in seconds"
TOO_OLD = "event_time is more than 7 days in the past"
FUTURE = "event_time is in the future"
BAD_SOURCE = "action_source is not one of Meta's values"
NO_USER_DATA = "user_data must be an object"
NOT_HASHED = "user_data.{key} must be a lowercase SHA-256 hex digest"
HASHED_PLAIN = "user_data.{key} must not be hashed"
NO_MATCH = "user_data has no customer information parameter Meta can match on"
WEB_FIELDS = "website events require event_source_url and user_data.client_user_agent"
APP_FIELDS = "app events require app_data.advertiser_tracking_enabled and a 16-value extinfo"
PURCHASE = "Purchase requires custom_data.value (a number) and custom_data.currency (ISO 4217)"
NO_EVENT_ID = "event_id should be a non-empty string for deduplication"
CUSTOM_DATA = "custom_data must be an object"


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "is_transient": False, "fbtrace_id": "AlocalStandInTrace"}  # fmt: skip
    if subcode is not None:
        error["error_subcode"] = subcode
    if code == 100:
        error |= {"error_user_title": "Invalid parameter", "error_user_msg": message}
    return {"error": error}


def event_problems(event: Any, now: float) -> list[str]:
    """What Meta would refuse in one server event (empty: valid)."""
    if not isinstance(event, dict):
        return [NOT_EVENT]
    found = []
    name = event.get("event_name")
    if not isinstance(name, str) or not CUSTOM_NAME.match(name):
        found.append(NO_EVENT_NAME)
    when = event.get("event_time")
    if not isinstance(when, int) or isinstance(when, bool) or when > 10**11:
        found.append(SECONDS)
    elif when < now - WINDOW_SECONDS:
        found.append(TOO_OLD)
    elif when > now + 60:
        found.append(FUTURE)
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        found.append(NO_EVENT_ID)
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        found.append(BAD_SOURCE)
    user = event.get("user_data")
    if not isinstance(user, dict):
        return [*found, NO_USER_DATA]
    found += [NOT_HASHED.format(key=k) for k in HASHED if k in user and not _hashed(user[k])]
    found += [HASHED_PLAIN.format(key=k) for k in PLAIN if k in user and _hashed(user[k])]
    alone = {"em", "ph", "external_id", "fbc", "fbp", "madid", "anon_id"}
    if not (alone & user.keys() or {"client_ip_address", "client_user_agent"} <= user.keys()):
        found.append(NO_MATCH)
    if source == "website" and not (
        event.get("event_source_url") and user.get("client_user_agent")
    ):
        found.append(WEB_FIELDS)
    if source == "app" and not _app_data(event.get("app_data")):
        found.append(APP_FIELDS)
    if "custom_data" in event and not isinstance(event["custom_data"], dict):
        found.append(CUSTOM_DATA)
    if name == "Purchase" and not _purchase(event.get("custom_data")):
        found.append(PURCHASE)
    return found


def _hashed(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and SHA256.match(v) for v in values)


def _app_data(app: Any) -> bool:
    if not isinstance(app, dict) or app.get("advertiser_tracking_enabled") not in (0, 1):
        return False
    info = app.get("extinfo")
    return isinstance(info, list) and len(info) == 16 and info[0] in ("i2", "a2")


def _purchase(custom: Any) -> bool:
    if not isinstance(custom, dict):
        return False
    value, currency = custom.get("value"), custom.get("currency")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and isinstance(currency, str) and bool(CURRENCY.match(currency))


class MetaStandIn(StandIn):
    name = "meta"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        pixel_id: str = PIXEL_ID,
        access_token: str = ACCESS_TOKEN,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        self.pixel_id, self.access_token, self._now = pixel_id, access_token, now

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(path)
        route = PATH.match(parts.path)
        if method != "POST" or route is None:
            return Reply(
                404, graph_error(100, f"Unknown path components: {parts.path}"), reason="path"
            )
        token = parse_qs(parts.query).get("access_token", [""])[0]
        if token != self.access_token:
            return Reply(400, graph_error(190, BAD_TOKEN), reason=BAD_TOKEN)
        if route.group(2) != self.pixel_id:
            message = NO_PIXEL.format(pixel=route.group(2))
            return Reply(400, graph_error(100, message, 33), reason=message)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "json" not in headers.get("content-type", ""):
            return Reply(400, graph_error(100, NOT_JSON), reason=NOT_JSON)
        data = payload.get("data")
        if not isinstance(data, list) or not 1 <= len(data) <= MAX_EVENTS:
            return Reply(400, graph_error(100, NO_DATA), reason=NO_DATA)
        now = self._now()
        for i, event in enumerate(data):
            problems = event_problems(event, now)
            if problems:
                message = f"data[{i}]: {problems[0]}"
                return Reply(400, graph_error(100, message), reason=message)
        test_code = payload.get("test_event_code")
        delivered = tuple(_delivered(e, test_code) for e in data)
        answer = {"events_received": len(data), "messages": [], "fbtrace_id": "AlocalStandIn"}
        return Reply(200, answer, delivered=delivered)


def _delivered(event: dict[str, Any], test_code: Any) -> dict[str, Any]:
    keep = ("event_name", "action_source", "event_time")
    found = {"key": event["event_id"], "test_event_code": test_code} | {k: event[k] for k in keep}
    return found | {"custom_data": event.get("custom_data") or {}}


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to deliver here (the credentials checked above), and
    the one audience the local stack sends Meta: the direct-deposit audience's entries and exits
    (every other track still goes; see ``CDP_<NAME>_AUDIENCES`` in ``filters.py``)."""
    return {
        "CDP_META_ENDPOINT": url,
        "CDP_META_PIXEL_ID": PIXEL_ID,
        "CDP_META_ACCESS_TOKEN": ACCESS_TOKEN,
        "CDP_META_AUDIENCES": LOCAL_AUDIENCES,
    }
