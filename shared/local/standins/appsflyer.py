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

OpenDSR (``POST /api/gdpr/v1/opendsr_requests``, from AppsFlyer's OpenDSR API reference):
``Authorization: Bearer <V2 API token>`` (401), JSON (``e311``/``e326``), ``api_version`` 0.1
(``e312``), ``subject_request_id`` a UUID not used before (``e313``/``e213``),
``submitted_time`` RFC 3339 (``e314``), ``subject_request_type`` one of access, portability,
rectification, erasure (``e322``), ``property_id`` an app of the account (``e411``),
``subject_identities`` a non-empty list of ``{identity_type, identity_value, identity_format:
"raw"}`` (``e318``/``e323``/``e325``), types that fit the app's platform (``e319``), no
all-zero advertising id (``e321``), no identity already in an open request (``e215``). Errors
are 400 ``{"error": {"code", "message", "af_gdpr_code"}}``; accepted: 201 with the
``subject_request_id``, ``received_time``, ``expected_completion_time`` and
``encoded_request``, listed in ``deletions``. ``GET .../opendsr_requests/{id}`` answers the
request's status (``pending``), 400 ``e214`` for an unknown id.

    python -m shared.local.standins.appsflyer --port 8602
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.local.standins import deletions
from shared.local.standins.base import Reply

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

API_TOKEN = "local-appsflyer-api-token"
DSR_PATH = "/api/gdpr/v1/opendsr_requests"
DSR_TYPES = frozenset({"access", "portability", "rectification", "erasure"})
IDENTITY_TYPES = {  # the identity types each platform's apps take
    "ios": {"ios_advertising_id", "idfv", "appsflyer_id", "customer_user_id"},
    "android": {"android_advertising_id", "fire_advertising_id", "appsflyer_id",
                "customer_user_id"},
}  # fmt: skip
ADVERTISING = frozenset({"ios_advertising_id", "android_advertising_id", "fire_advertising_id"})
DSR_ERRORS = {
    "e213": "Request already exists", "e215": "One or more subject-identities already exist "
    "in an open request", "e311": "Invalid request content type", "e312": "Invalid API version",
    "e313": "Invalid subject_request_id", "e314": "Invalid submitted_time format",
    "e318": "Invalid identity_type", "e319": "Application platform does not match identity types",
    "e321": "LAT users are not supported via API", "e322": "Invalid subject_request_type",
    "e323": "Invalid subject_identities format", "e325": "Invalid subject_identities value",
    "e326": "Invalid JSON format in request body",
    "e411": "AppID is incorrect or does not belong to your account", "e214": "Request not found",
}  # fmt: skip


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


class AppsFlyerStandIn(deletions.DeletingStandIn):
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
        self.api_token = API_TOKEN
        self.dropped: list[dict[str, Any]] = []  # answered 200, never recorded (AppsFlyer's way)
        self.dsr: dict[str, dict[str, Any]] = {}  # subject_request_id → request

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path.split("?")[0].startswith(DSR_PATH):
            return self._opendsr(method, path.split("?")[0], headers, body)
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

    def is_deletion(self, method: str, path: str) -> bool:
        return path.split("?")[0] == DSR_PATH  # OpenDSR requests accepted

    def listing(self) -> dict[str, Any]:
        return super().listing() | {"dropped": list(self.dropped)}

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self.dropped.clear()
            self.dsr.clear()

    def _opendsr(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if headers.get("authorization") != f"Bearer {self.api_token}":
            return Reply(401, {"error": {"code": 401, "message": "Unauthorized"}},
                         reason="the bearer token is not the account's V2 API token")  # fmt: skip
        if method == "GET" and route.startswith(DSR_PATH + "/"):
            with self._lock:
                found = self.dsr.get(route[len(DSR_PATH) + 1 :])
            if found is None:
                return _dsr_error("e214")
            status = {k: found[k] for k in ("subject_request_id", "expected_completion_time")}
            return Reply(200, {**status, "controller_id": "local", "request_status": "pending"})
        if method != "POST" or route != DSR_PATH:
            return Reply(404, "Not Found", reason="path")
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _dsr_error("e311")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _dsr_error("e326")
        with self._lock:
            code = self._dsr_problem(payload)
            if code:
                return _dsr_error(code)
            now = datetime.now(UTC)
            answer = {"subject_request_id": payload["subject_request_id"],
                      "received_time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                      "expected_completion_time": (now + timedelta(days=30)).isoformat(
                          timespec="seconds").replace("+00:00", "Z"),
                      "encoded_request": base64.b64encode(body).decode()}  # fmt: skip
            self.dsr[payload["subject_request_id"]] = {**payload, **answer}
        call = deletions.deletion(f"deletion:{payload['subject_request_id']}", **payload)
        return Reply(201, answer, delivered=(call,))

    def _dsr_problem(self, payload: dict[str, Any]) -> str:
        """The af_gdpr_code AppsFlyer would answer ("" when the request is valid)."""
        if payload.get("api_version") != "0.1":
            return "e312"
        request_id = payload.get("subject_request_id")
        if not isinstance(request_id, str) or not _uuid(request_id):
            return "e313"
        if request_id in self.dsr:
            return "e213"
        if not _rfc3339(payload.get("submitted_time")):
            return "e314"
        if payload.get("subject_request_type") not in DSR_TYPES:
            return "e322"
        app = payload.get("property_id")
        if app not in self.app_ids:
            return "e411"
        identities = payload.get("subject_identities")
        if not isinstance(identities, list) or not identities:
            return "e323"
        platform = "ios" if str(app).startswith("id") and str(app)[2:].isdigit() else "android"
        for identity in identities:
            code = _identity_problem(identity, platform)
            if code:
                return code
            if any(_same(identity, d) for d in self.dsr.values() if d["property_id"] == app):
                return "e215"
        return ""


def _identity_problem(identity: Any, platform: str) -> str:
    if not isinstance(identity, dict) or identity.get("identity_format") != "raw":
        return "e323"
    kind, value = identity.get("identity_type"), identity.get("identity_value")
    if kind not in IDENTITY_TYPES["ios"] | IDENTITY_TYPES["android"]:
        return "e318"
    if kind not in IDENTITY_TYPES[platform]:
        return "e319"
    if not isinstance(value, str) or not value.strip():
        return "e325"
    if kind in ADVERTISING and not UUID.match(value):
        return "e325"
    if kind in ADVERTISING and not set(value) - {"0", "-"}:
        return "e321"
    return ""


def _same(identity: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether ``identity`` is in ``request`` (every stand-in request stays open: pending)."""
    key = (identity.get("identity_type"), identity.get("identity_value"))
    return any((i.get("identity_type"), i.get("identity_value")) == key
               for i in request.get("subject_identities") or [])  # fmt: skip


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _rfc3339(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _dsr_error(code: str) -> Reply:
    message = DSR_ERRORS[code]
    error = {"error": {"code": 400, "message": message, "af_gdpr_code": code}}
    return Reply(400, error, reason=f"{code}: {message}")


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to deliver here (the key and app ids checked above)."""
    return {
        "CDP_APPSFLYER_ENDPOINT": url,
        "CDP_APPSFLYER_DEV_KEY": DEV_KEY,
        "CDP_APPSFLYER_APP_ID": json.dumps(APP_IDS),
        "CDP_DELETION_APPSFLYER_API_TOKEN": API_TOKEN,
    }
