"""A local stand-in for GA4's Measurement Protocol: ``/mp/collect`` and ``/debug/mp/collect``.

It checks each request the way GA4's validation server does (written from GA4's documented
limits, independently of the mapping in ``shared.tiering.ga4``, so one cannot hide the other's
mistakes) and answers like GA4: ``/mp/collect`` always 204, ``/debug/mp/collect`` 200 with
``{"validationMessages": [...]}``. It keeps what it accepted and what it would have refused, for
tests (``accepted``/``rejected``) and over HTTP (``GET /_standin/received``).

It also answers the User Deletion API (``POST /analytics/v3/userDeletion/
userDeletionRequests:upsert``, ``user_deletion``), checked as its reference documents it: a
bearer token (401 ``UNAUTHENTICATED``), a JSON ``userDeletionRequest`` with ``kind``
``analytics#userDeletionRequest`` when given, ``id.type`` ``CLIENT_ID``, ``USER_ID`` or
``APP_INSTANCE_ID`` and ``id.userId``, exactly one of ``propertyId``, ``webPropertyId`` and
``firebaseProjectId`` fitting the id type (400 ``INVALID_ARGUMENT``), and the stand-in's own
property (403 ``PERMISSION_DENIED``). Accepted: 200 with the request and its
``deletionRequestTime``; the calls are listed as ``deletions`` by ``GET``.

    python -m shared.local.ga4_standin --port 8599
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_EVENTS = {
    *["ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure"],
    *["app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund"],
    *["app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update"],
    *["dynamic_link_first_open", "error", "firebase_campaign", "firebase_in_app_message_action"],
    *["firebase_in_app_message_dismiss", "firebase_in_app_message_impression"],
    *["first_open", "first_visit", "in_app_purchase", "notification_dismiss"],
    *["notification_foreground", "notification_open", "notification_receive"],
    *["notification_send", "os_update", "screen_view", "session_start", "user_engagement"],
}
BACKDATE_SECONDS = 72 * 3600
Message = dict[str, str]
KIND = "analytics#userDeletionRequest"
DELETION_PATH = "/analytics/v3/userDeletion/userDeletionRequests:upsert"
LOCAL_TOKEN = "local-google-token"
PROPERTY_ID = "320000002"  # the cold path's GA4 property, locally
WEB_IDS = ("webPropertyId", "propertyId")
ID_TYPES = {"CLIENT_ID": WEB_IDS, "USER_ID": WEB_IDS,
            "APP_INSTANCE_ID": ("firebaseProjectId", "propertyId")}  # fmt: skip
TARGETS = ("webPropertyId", "propertyId", "firebaseProjectId")


def _msg(path: str, code: str, description: str) -> Message:
    return {"fieldPath": path, "description": description, "validationCode": code}


def _name(path: str, name: Any, what: str, reserved: set[str]) -> list[Message]:
    if not isinstance(name, str) or not name:
        return [_msg(path, "VALUE_REQUIRED", f"{what} name is required.")]
    if len(name) > 40:
        return [_msg(path, "NAME_INVALID", f"{what} name [{name}] is longer than 40.")]
    if not NAME.match(name):
        return [_msg(path, "NAME_INVALID", f"{what} name [{name}] is invalid.")]
    if name in reserved or name.startswith(RESERVED_PREFIXES):
        return [_msg(path, "NAME_RESERVED", f"{what} name [{name}] is reserved.")]
    return []


def validate(body: bytes, query: dict[str, list[str]], now: float) -> list[Message]:
    """GA4's validationMessages for one request (empty: valid)."""
    if len(body) >= 130_000:
        return [_msg("", "VALUE_OUT_OF_BOUNDS", "Post body is larger than 130kB.")]
    if not query.get("api_secret") or not query.get("measurement_id"):
        return [_msg("", "VALUE_REQUIRED", "measurement_id and api_secret are required.")]
    try:
        payload = json.loads(body)
    except ValueError:
        return [_msg("", "VALUE_INVALID", "Unable to parse the JSON payload.")]
    if not isinstance(payload, dict):
        return [_msg("", "VALUE_INVALID", "The payload must be an object.")]
    found: list[Message] = []
    if not isinstance(payload.get("client_id"), str) or not payload["client_id"]:
        found.append(_msg("client_id", "VALUE_REQUIRED", "client_id is required."))
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        return [*found, _msg("events", "VALUE_REQUIRED", "At least one event is required.")]
    if len(events) > 25:
        found.append(_msg("events", "EXCEEDED_MAX_ENTITIES", "More than 25 events."))
    for i, event in enumerate(events):
        found += _event(f"events[{i}]", event, now)
    return found


def _event(path: str, event: Any, now: float) -> list[Message]:
    if not isinstance(event, dict):
        return [_msg(path, "VALUE_INVALID", "An event must be an object.")]
    found = _name(f"{path}.name", event.get("name"), "Event", RESERVED_EVENTS)
    params = event.get("params", {})
    if not isinstance(params, dict):
        return [*found, _msg(f"{path}.params", "VALUE_INVALID", "params must be an object.")]
    if len(params) > 25:
        found.append(_msg(f"{path}.params", "EXCEEDED_MAX_ENTITIES", "More than 25 params."))
    for key, value in params.items():
        at = f"{path}.params.{key}"
        found += _name(at, key, "Param", {"firebase_conversion"})
        if isinstance(value, str) and len(value) > 100:
            found.append(_msg(at, "VALUE_OUT_OF_BOUNDS", "Param value longer than 100."))
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            found.append(_msg(at, "VALUE_INVALID", "Param values are strings or numbers."))
    micros = event.get("timestamp_micros")
    if micros is not None:
        if not isinstance(micros, int) or isinstance(micros, bool):
            found.append(_msg(f"{path}.timestamp_micros", "VALUE_INVALID", "Not an integer."))
        elif not now - BACKDATE_SECONDS <= micros / 1e6 <= now + 60:
            found.append(
                _msg(f"{path}.timestamp_micros", "VALUE_OUT_OF_BOUNDS", "Outside 72 hours.")
            )
    for own in ("session_id", "engagement_time_msec"):
        if own not in params:  # accepted by GA4, but invisible in its reports: flagged here
            found.append(_msg(f"{path}.params", "VALUE_REQUIRED", f"{own} is missing."))
    return found


def user_deletion(
    headers: dict[str, str], body: bytes, property_id: str, token: str, now: float
) -> tuple[int, dict[str, Any]]:
    """The User Deletion API's status and answer to one upsert (headers in lower case)."""
    if headers.get("authorization") != f"Bearer {token}":
        return _google_error(
            401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
        )
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    if not isinstance(request, dict) or request.get("kind", KIND) != KIND:
        return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    given = request.get("id")
    ident: dict[str, Any] = given if isinstance(given, dict) else {}
    kind = ident.get("type")
    if kind not in ID_TYPES or not isinstance(ident.get("userId"), str) or not ident["userId"]:
        return _google_error(400, "INVALID_ARGUMENT", "id.type and id.userId are required.")
    targets = [t for t in TARGETS if request.get(t)]
    if len(targets) != 1 or targets[0] not in ID_TYPES[kind]:
        return _google_error(400, "INVALID_ARGUMENT", f"{kind} needs one of {ID_TYPES[kind]}.")
    if request.get("propertyId") != property_id:
        return _google_error(403, "PERMISSION_DENIED", "User does not have sufficient "
                             "permissions for this property.")  # fmt: skip
    when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    return 200, {**request, "kind": KIND, "deletionRequestTime": when}


def _google_error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


@dataclass
class GA4StandIn:
    host: str = "127.0.0.1"
    port: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)  # valid request bodies
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"body", "messages"}
    deletions: list[dict[str, Any]] = field(default_factory=list)  # accepted deletion upserts
    property_id: str = PROPERTY_ID
    token: str = LOCAL_TOKEN
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the GA4 stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                with standin._lock:
                    data = {"accepted": standin.accepted, "rejected": standin.rejected,
                            "deletions": standin.deletions}  # fmt: skip
                self._answer(200, json.dumps(data).encode())

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if parts.path == DELETION_PATH:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    status, answer = standin.delete(headers, body)
                    self._answer(status, json.dumps(answer).encode())
                    return
                if parts.path not in ("/mp/collect", "/debug/mp/collect"):
                    self._answer(404, b"")
                    return
                messages = validate(body, parse_qs(parts.query), time.time())
                if parts.path == "/debug/mp/collect":
                    self._answer(200, json.dumps({"validationMessages": messages}).encode())
                    return
                with standin._lock:
                    if messages:
                        standin.rejected.append({"body": body.decode(), "messages": messages})
                    else:
                        standin.accepted.append(json.loads(body))
                self._answer(204, b"")

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def delete(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """A User Deletion API upsert: checked, answered, and kept when accepted."""
        status, answer = user_deletion(headers, body, self.property_id, self.token, time.time())
        if status == 200:
            with self._lock:
                self.deletions.append(answer)
        return status, answer

    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, with its request's client_id."""
        with self._lock:
            return [
                {**event, "client_id": body["client_id"]}
                for body in self.accepted
                for event in body["events"]
            ]


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need in their environment to send GA4 traffic here (the
    local stack adds it to every function's environment; settings already set win)."""
    return {
        "CDP_GA4_ENDPOINT": url,
        "CDP_GA4_MEASUREMENT_ID": "G-LOCAL",
        "CDP_GA4_API_SECRET": "local-secret",
        "CDP_DELETION_GOOGLE_ACCESS_TOKEN": LOCAL_TOKEN,
        "CDP_DELETION_GA4_PROPERTY_ID": PROPERTY_ID,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="GA4 Measurement Protocol stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8599)
    args = parser.parse_args()
    standin = GA4StandIn(args.host, args.port)
    print(f"GA4 stand-in at {standin.start()}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
