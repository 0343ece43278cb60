"""A local stand-in for AppsFlyer's server-to-server in-app events: ``POST /inappevent/{app_id}``.

Its checks come from AppsFlyer's S2S documentation, written again here rather than imported
from ``shared.destinations.appsflyer``: the ``authentication`` header is the dev key (401
otherwise), ``Content-Type: application/json``, a body of at most 1 KB, one event per call with
``appsflyer_id``, ``eventName`` and ``eventValue`` (a JSON object *as a string*, or empty),
``af_events_api: "true"``, ``eventTime`` as ``yyyy-MM-dd HH:mm:ss.SSS``, advertising ids as
UUIDs (400 with a text reason otherwise). It answers ``ok`` like AppsFlyer.

An App Store id without its ``id`` prefix is answered 200 and not recorded, as AppsFlyer does;
the stand-in keeps it in ``dropped`` so tests see the mistake. AppsFlyer has no dedup key: each
delivered event's key is the Segment messageId the sender puts in ``X-CDP-Message-Id``.

    python -m shared.local.standins.appsflyer --port 8602
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.local.standins.base import Reply, StandIn

DEV_KEY = "local-appsflyer-dev-key"
APP_IDS = {"ios": "id1234567890", "android": "com.example.cdp"}
MAX_BODY = 1024
MAX_EVENT_NAME = 100
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
PATH = re.compile(r"^/inappevent/([^/?]+)$")

UNAUTHORIZED = "Unauthorized: the authentication header is not the app's dev key"
UNKNOWN_APP = "Unknown app id"
NOT_JSON_TYPE = "Content-Type must be application/json"
TOO_LARGE = "JSON payload larger than 1KB"
NOT_JSON = "The body is not a JSON object"
NO_APPSFLYER_ID = "appsflyer_id is required"
NO_EVENT_NAME = "eventName is required (at most 100 characters)"
BAD_EVENT_VALUE = "eventValue must be a string holding a JSON object, or empty"
NOT_EVENTS_API = 'af_events_api must be "true"'
BAD_TIME = "eventTime must be yyyy-MM-dd HH:mm:ss.SSS (UTC)"
BAD_DEVICE_ID = "{key} must be a UUID"


def problems(payload: dict[str, Any]) -> list[str]:
    """What AppsFlyer would answer 400 to in one event (empty: valid)."""
    found = []
    if not isinstance(payload.get("appsflyer_id"), str) or not payload["appsflyer_id"]:
        found.append(NO_APPSFLYER_ID)
    name = payload.get("eventName")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_EVENT_NAME:
        found.append(NO_EVENT_NAME)
    if not _event_value(payload.get("eventValue")):
        found.append(BAD_EVENT_VALUE)
    if payload.get("af_events_api") != "true":
        found.append(NOT_EVENTS_API)
    if "eventTime" in payload and not TIME.match(str(payload["eventTime"])):
        found.append(BAD_TIME)
    for key in ("idfa", "idfv", "advertising_id"):
        if key in payload and not UUID.match(str(payload[key])):
            found.append(BAD_DEVICE_ID.format(key=key))
    return found


def _event_value(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.strip() == "":
        return True
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


class AppsFlyerStandIn(StandIn):
    name = "appsflyer"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        dev_key: str = DEV_KEY,
        app_ids: Iterable[str] = tuple(APP_IDS.values()),
    ) -> None:
        super().__init__(host, port)
        self.dev_key, self.app_ids = dev_key, set(app_ids)
        self.dropped: list[dict[str, Any]] = []  # answered 200, never recorded (AppsFlyer's way)

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        route = PATH.match(path.split("?")[0])
        if method != "POST" or route is None:
            return Reply(404, "Not Found", reason="path")
        if headers.get("authentication") != self.dev_key:
            return Reply(401, "Unauthorized", reason=UNAUTHORIZED)
        app_id = route.group(1)
        if app_id.isdigit() and f"id{app_id}" in self.app_ids:
            self.dropped.append({"app_id": app_id, "body": body.decode(errors="replace")})
            return Reply(200, "ok")
        if app_id not in self.app_ids:
            return Reply(400, UNKNOWN_APP, reason=UNKNOWN_APP)
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return Reply(400, NOT_JSON_TYPE, reason=NOT_JSON_TYPE)
        if len(body) > MAX_BODY:
            return Reply(400, TOO_LARGE, reason=TOO_LARGE)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return Reply(400, NOT_JSON, reason=NOT_JSON)
        found = problems(payload)
        if found:
            return Reply(400, "; ".join(found), reason="; ".join(found))
        key = headers.get("x-cdp-message-id") or f"{payload['appsflyer_id']}:{payload['eventName']}"
        event = {"key": key, "app_id": app_id, "appsflyer_id": payload["appsflyer_id"],
                 "eventName": payload["eventName"]}  # fmt: skip
        return Reply(200, "ok", delivered=(event,))

    def listing(self) -> dict[str, Any]:
        return super().listing() | {"dropped": list(self.dropped)}

    def clear(self) -> None:
        super().clear()
        self.dropped.clear()


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to deliver here (the key and app ids checked above)."""
    return {
        "CDP_APPSFLYER_ENDPOINT": url,
        "CDP_APPSFLYER_DEV_KEY": DEV_KEY,
        "CDP_APPSFLYER_APP_ID": json.dumps(APP_IDS),
    }
