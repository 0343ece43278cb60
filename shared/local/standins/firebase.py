"""A local stand-in for GA4's Measurement Protocol as the ``firebase`` destination uses it: web
streams (``measurement_id`` + ``client_id``) and app streams (``firebase_app_id`` +
``app_instance_id``), ``POST /mp/collect`` and ``/debug/mp/collect``.

The events are checked with the GA4 stand-in's own rules (``shared.local.ga4_standin``, written
from GA4's documented limits); the rest is checked here, from the Measurement Protocol
reference, independently of the sender: the query's ``api_secret`` and stream id (the ones this
stand-in was given; a Firebase app id looks like ``1:<project number>:ios:<hex>``), the device id
of the stream (``app_instance_id`` is 32 hex digits), ``user_id`` (≤ 256 characters, no email),
``user_properties`` (≤ 25, names ≤ 24 characters and unreserved, values ≤ 36), ``consent``
(GRANTED or DENIED), ``ip_override`` and ``device``, and the body under 130 kB.

GA4 answers 2xx to anything and drops what is invalid in silence; this stand-in answers 400 with
GA4's ``validationMessages`` instead, so a contract violation shows as a refused event rather
than vanishing. ``/debug/mp/collect`` answers 200 with the messages, like GA4's validation
server. GA4 has no dedup key: each delivered event's ``key`` is its Segment messageId, read from
the ``X-CDP-Message-Ids`` header (a JSON list, in event order) when the sender gives it.

The GA4 property's User Deletion API (``ga4_standin.user_deletion``: bearer token, the
``userDeletionRequest`` and this stand-in's ``property_id``) is answered here too; accepted
deletions are listed as ``deletions`` by ``GET /_standin``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.local.ga4_standin import (
    DELETION_PATH,
    LOCAL_TOKEN,
    Message,
    _event,
    _msg,
    user_deletion,
)
from shared.local.standins import deletions
from shared.local.standins.base import Reply

COLLECT, DEBUG = "/mp/collect", "/debug/mp/collect"
IDS_HEADER = "x-cdp-message-ids"
API_SECRET, MEASUREMENT_ID = "local-secret", "G-LOCAL"
PROPERTY_ID = "310000001"  # the GA4 property of the streams above, locally
APP_IDS = {"ios": "1:100000000001:ios:0a1b2c3d4e5f6a7b", "android": "1:100000000001:android:0f1e"}

NOT_FOUND = "no such endpoint"
NOT_POST = "the Measurement Protocol takes POST only"
TOO_LARGE = "Post body is larger than 130kB."
NO_SECRET = "api_secret is required."
BAD_SECRET = "api_secret is not one of this stream's secrets."
ONE_STREAM = "Exactly one of measurement_id and firebase_app_id is required."
BAD_MEASUREMENT_ID = "measurement_id is not this property's stream."
BAD_APP_ID = "firebase_app_id is not a Firebase app id of this project."
NOT_JSON = "Unable to parse the JSON payload."
NOT_OBJECT = "The payload must be an object."
NO_CLIENT_ID = "client_id is required for a web stream."
NO_APP_INSTANCE_ID = "app_instance_id is required for an app stream."
BAD_APP_INSTANCE_ID = "app_instance_id is expected to be a 32 digit hexadecimal number."
WRONG_DEVICE_ID = "{field} does not belong to this kind of stream."
BAD_USER_ID = "user_id must be a string of 1 to 256 characters."
PII_USER_ID = "user_id looks like an email address: PII is not allowed."
BAD_USER_PROPERTIES = "user_properties must be an object of at most 25 entries."
BAD_USER_PROPERTY_NAME = "User property name [{name}] is invalid or reserved."
BAD_USER_PROPERTY_VALUE = "User property [{name}] needs a value: string ≤ 36 or number."
BAD_CONSENT = "consent takes ad_user_data and ad_personalization, GRANTED or DENIED."
BAD_IP = "ip_override is not an IP address."
BAD_DEVICE = "device is an object of strings (category, language, screen_resolution, ...)."
NO_EVENTS = "At least one event is required."
TOO_MANY_EVENTS = "More than 25 events."

APP_ID = re.compile(r"^\d+:\d+:(ios|android):[0-9a-f]+$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
USER_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,23}$")
RESERVED_USER_PROPERTIES = {"first_open_time", "first_visit_time", "last_deep_link_referrer",
                            "user_id", "first_open_after_install"}  # fmt: skip
DEVICE_FIELDS = {"category", "language", "screen_resolution", "operating_system", "model",
                 "operating_system_version", "brand", "browser", "browser_version"}  # fmt: skip
CONSENT_VALUES = {"GRANTED", "DENIED"}


class FirebaseStandIn(deletions.DeletingStandIn):
    name = "firebase"

    def __init__(
        self,
        api_secret: str = API_SECRET,
        measurement_id: str = MEASUREMENT_ID,
        app_ids: Mapping[str, str] = APP_IDS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.api_secret, self.measurement_id = api_secret, measurement_id
        self.app_ids = dict(app_ids)
        self.property_id, self.token = PROPERTY_ID, LOCAL_TOKEN

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(path)
        if method == "POST" and parts.path == DELETION_PATH:
            found = user_deletion(dict(headers), body, self.property_id, self.token, time.time())
            status, answer = found
            if status != 200:
                return Reply(status, answer, reason=answer["error"]["message"])
            key = f"deletion:{answer['id']['type']}:{answer['id']['userId']}"
            return Reply(200, answer, delivered=(deletions.deletion(key, **answer),))
        if parts.path not in (COLLECT, DEBUG):
            return Reply(404, "", reason=NOT_FOUND)
        if method != "POST":
            return Reply(405, "", reason=NOT_POST)
        messages, payload = self.validate(parse_qs(parts.query), body, time.time())
        if parts.path == DEBUG:
            return Reply(200, {"validationMessages": messages})
        if messages:
            reason = "; ".join(f"{m['fieldPath']}: {m['description']}" for m in messages)
            return Reply(400, {"validationMessages": messages}, reason=reason)
        return Reply(204, b"", delivered=delivered(payload, parse_qs(parts.query), headers))

    def validate(
        self, query: dict[str, list[str]], body: bytes, now: float
    ) -> tuple[list[Message], dict[str, Any]]:
        """GA4's validationMessages for one request (empty: valid), and its payload."""
        if len(body) >= 130_000:
            return [_msg("", "VALUE_OUT_OF_BOUNDS", TOO_LARGE)], {}
        found = self._query(query)
        try:
            payload = json.loads(body)
        except ValueError:
            return [*found, _msg("", "VALUE_INVALID", NOT_JSON)], {}
        if not isinstance(payload, dict):
            return [*found, _msg("", "VALUE_INVALID", NOT_OBJECT)], {}
        found += _device_id(payload, app="firebase_app_id" in query)
        found += _who(payload)
        events = payload.get("events")
        if not isinstance(events, list) or not events:
            return [*found, _msg("events", "VALUE_REQUIRED", NO_EVENTS)], payload
        if len(events) > 25:
            found.append(_msg("events", "EXCEEDED_MAX_ENTITIES", TOO_MANY_EVENTS))
        for i, event in enumerate(events):
            found += _event(f"events[{i}]", event, now)
        return found, payload

    def _query(self, query: dict[str, list[str]]) -> list[Message]:
        secret = query.get("api_secret", [""])[0]
        if not secret:
            return [_msg("api_secret", "VALUE_REQUIRED", NO_SECRET)]
        found = (
            [] if secret == self.api_secret else [_msg("api_secret", "VALUE_INVALID", BAD_SECRET)]
        )
        web, app = query.get("measurement_id", [""])[0], query.get("firebase_app_id", [""])[0]
        if bool(web) == bool(app):
            return [*found, _msg("", "VALUE_REQUIRED", ONE_STREAM)]
        if web and web != self.measurement_id:
            found.append(_msg("measurement_id", "VALUE_INVALID", BAD_MEASUREMENT_ID))
        if app and (not APP_ID.match(app) or app not in self.app_ids.values()):
            found.append(_msg("firebase_app_id", "VALUE_INVALID", BAD_APP_ID))
        return found

    def is_deletion(self, method: str, path: str) -> bool:
        return urlsplit(path).path == DELETION_PATH  # accepted User Deletion API upserts


def _device_id(payload: dict[str, Any], app: bool) -> list[Message]:
    field, other = ("app_instance_id", "client_id") if app else ("client_id", "app_instance_id")
    found = []
    if other in payload:
        found.append(_msg(other, "VALUE_INVALID", WRONG_DEVICE_ID.format(field=other)))
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        code = NO_APP_INSTANCE_ID if app else NO_CLIENT_ID
        return [*found, _msg(field, "VALUE_REQUIRED", code)]
    if app and not HEX32.match(value):
        found.append(_msg(field, "VALUE_INVALID", BAD_APP_INSTANCE_ID))
    return found


def _who(payload: dict[str, Any]) -> list[Message]:
    found: list[Message] = []
    user_id = payload.get("user_id")
    if user_id is not None:
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 256:
            found.append(_msg("user_id", "VALUE_INVALID", BAD_USER_ID))
        elif re.search(r"[^@\s]+@[^@\s]+\.\w+", user_id):
            found.append(_msg("user_id", "VALUE_INVALID", PII_USER_ID))
    props = payload.get("user_properties", {})
    if not isinstance(props, dict) or len(props) > 25:
        found.append(_msg("user_properties", "EXCEEDED_MAX_ENTITIES", BAD_USER_PROPERTIES))
        props = {}
    for name, holder in props.items():
        at = f"user_properties.{name}"
        reserved = name in RESERVED_USER_PROPERTIES or name.startswith(
            ("google_", "ga_", "firebase_")
        )
        if not USER_PROPERTY.match(name) or reserved:
            found.append(_msg(at, "NAME_INVALID", BAD_USER_PROPERTY_NAME.format(name=name)))
        value = holder.get("value") if isinstance(holder, dict) else None
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number or (isinstance(value, str) and len(value) <= 36)):
            found.append(_msg(at, "VALUE_INVALID", BAD_USER_PROPERTY_VALUE.format(name=name)))
    consent = payload.get("consent", {})
    if not isinstance(consent, dict) or any(
        k not in ("ad_user_data", "ad_personalization") or v not in CONSENT_VALUES
        for k, v in consent.items()
    ):
        found.append(_msg("consent", "VALUE_INVALID", BAD_CONSENT))
    if "ip_override" in payload:
        try:
            ipaddress.ip_address(str(payload["ip_override"]))
        except ValueError:
            found.append(_msg("ip_override", "VALUE_INVALID", BAD_IP))
    device = payload.get("device", {})
    if not isinstance(device, dict) or any(
        k not in DEVICE_FIELDS or not isinstance(v, str) for k, v in device.items()
    ):
        found.append(_msg("device", "VALUE_INVALID", BAD_DEVICE))
    return found


def delivered(
    payload: dict[str, Any], query: dict[str, list[str]], headers: Mapping[str, str]
) -> tuple[dict[str, Any], ...]:
    """One entry per event; ``key`` the Segment messageId the sender named (GA4 has none)."""
    events = payload["events"]
    try:
        ids = json.loads(headers.get(IDS_HEADER, "[]"))
    except ValueError:
        ids = []
    device = payload.get("client_id") or payload.get("app_instance_id")
    stream = (query.get("measurement_id") or query.get("firebase_app_id") or [""])[0]
    return tuple(
        {
            "key": ids[i] if len(ids) == len(events) else f"{device}:{e.get('timestamp_micros')}",
            "name": e["name"],
            "stream": stream,
            "device": device,
            "user_id": payload.get("user_id"),
            "params": e.get("params", {}),
        }
        for i, e in enumerate(events)
    )


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to send ``firebase`` traffic here."""
    return {
        "CDP_FIREBASE_ENDPOINT": url,
        "CDP_FIREBASE_API_SECRET": API_SECRET,
        "CDP_FIREBASE_MEASUREMENT_ID": MEASUREMENT_ID,
        "CDP_FIREBASE_APP_ID": json.dumps(APP_IDS),
        "CDP_DELETION_GOOGLE_ACCESS_TOKEN": LOCAL_TOKEN,
        "CDP_DELETION_FIREBASE_PROPERTY_ID": PROPERTY_ID,
    }
