"""A local stand-in for Amplitude's HTTP API V2 (``POST /2/httpapi``), user mapping
(``POST /usermap``) and User Privacy API (``POST /api/2/deletions/users``, with the User Search
API ``GET /api/2/usersearch``), checking requests as Amplitude documents them, written from its
docs rather than from the sender's code:

- ``Content-Type: application/json``, a JSON object with the project's ``api_key`` (400
  ``Invalid API key``) and a non-empty ``events`` list (400 ``missing_field``);
- at most 2,000 events and 1 MB per request (413);
- each event: an ``event_type`` and a ``user_id`` or ``device_id`` (strings, at least
  ``options.min_id_length`` characters, 5 by default), ``time`` an integer of milliseconds
  (a value in seconds is refused as invalid), ``insert_id`` a string, property fields objects,
  ``$identify`` with ``user_properties`` (operations such as ``$set`` each with an object, or
  plain properties, not mixed, as the Identify API says) and ``$groupidentify`` with ``groups`` and
  ``group_properties``, no all-zero device id. Faulty events are named by index in the 400
  body (``events_with_missing_fields``, ``events_with_invalid_fields``,
  ``events_with_invalid_id_lengths``: ``amplitude_events.py``) and, as with Amplitude, the
  whole request is rejected.

Each accepted event is delivered with ``key`` = its ``insert_id`` (Amplitude's dedup key).

Deletion (``deletions`` in ``GET /_standin``): basic auth with the API key and secret key (401
otherwise), a JSON (or form) body of ``user_ids`` (strings) and/or ``amplitude_ids`` (integers),
1 to 100 in all, ``requester`` a string, ``ignore_invalid_id`` a boolean; without it, an id the
project never received is a 400, as Amplitude's. The stand-in gives each user or device it
received events for an Amplitude id (an event with both joins them), which the user search
answers (``matches`` of ``user_id`` and ``amplitude_id``) and the deletion's job lists: one
staging job scheduled 11 days later, ``[{"day", "status", "amplitude_ids": [{"amplitude_id",
"requested_on_day", "requester"}]}]``.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.local.standins import deletions
from shared.local.standins.amplitude_events import event_problems as event_problems
from shared.local.standins.amplitude_events import is_text
from shared.local.standins.base import Reply

LOCAL_API_KEY = "local-amplitude-key"
LOCAL_SECRET_KEY = "local-amplitude-secret"
MAX_EVENTS = 2000
MAX_BYTES = 1_000_000
DEFAULT_MIN_ID_LENGTH = 5

NOT_FOUND = "no such Amplitude endpoint"
NOT_JSON_TYPE = "Content-Type is not application/json"
NOT_JSON = "the body is not a JSON object"
BAD_KEY = "the api_key is not the project's"
NO_EVENTS = "events is missing or empty"
TOO_MANY = "more than 2,000 events in one request"
TOO_BIG = "the request is over 1 MB"
BAD_OPTIONS = "options.min_id_length is not a positive integer"
BAD_EVENTS = "some events are invalid: the whole request is rejected"
BAD_MAPPING = "mapping is not a JSON list of {user_id, global_user_id}"
BAD_SECRET = "Invalid API key or secret key (basic auth api_key:secret_key)"
BAD_DELETION = "user_ids must be strings, amplitude_ids integers: 1 to 100 users in all"
BAD_FLAG = "ignore_invalid_id and delete_from_org are booleans"
INVALID_IDS = "Invalid ids: the project has no such users (set ignore_invalid_id)"
NO_SEARCH = "user is required"
DELETIONS, SEARCH = "/api/2/deletions/users", "/api/2/usersearch"
MAX_DELETIONS = 100
JOB_DAYS = 11  # Amplitude schedules a deletion job 10 to 13 days after its first request

Problems = dict[str, dict[str, list[int]]]


class AmplitudeStandIn(deletions.DeletingStandIn):
    name = "amplitude"

    def __init__(
        self,
        api_key: str = LOCAL_API_KEY,
        secret_key: str = LOCAL_SECRET_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.api_key, self.secret_key = api_key, secret_key
        self.users: dict[str, int] = {}  # user id or device id → Amplitude id
        self._amplitude_ids = itertools.count(10**11)

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        route = path.split("?")[0]
        if method == "POST" and route == "/2/httpapi":
            return self._httpapi(headers, body)
        if method == "POST" and route == "/usermap":
            return self._usermap(body)
        if route in (DELETIONS, SEARCH) and not self._authorized(headers):
            return Reply(401, {"error": BAD_SECRET}, reason=BAD_SECRET)
        if method == "POST" and route == DELETIONS:
            return self._deletion(headers, body)
        if method == "GET" and route == SEARCH:
            return self._search(parse_qs(urlsplit(path).query).get("user", [""])[0])
        return Reply(404, {"code": 404, "error": NOT_FOUND}, reason=NOT_FOUND)

    def is_deletion(self, method: str, path: str) -> bool:
        return path.split("?")[0] == DELETIONS  # each user a deletion call scheduled

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        pair = base64.b64encode(f"{self.api_key}:{self.secret_key}".encode()).decode()
        return headers.get("authorization") == f"Basic {pair}"

    def _known(self, events: list[Any]) -> None:
        """Amplitude ids for the users and devices of accepted events (both: one id)."""
        with self._lock:
            for event in events:
                ids = [str(event[k]) for k in ("user_id", "device_id") if event.get(k)]
                known = next((self.users[i] for i in ids if i in self.users), None)
                found = known if known is not None else next(self._amplitude_ids)
                self.users.update({i: found for i in ids})

    def _search(self, user: str) -> Reply:
        if not user:
            return Reply(400, {"error": NO_SEARCH}, reason=NO_SEARCH)
        with self._lock:
            found = self.users.get(user)
            if found is None and user.isdigit() and int(user) in self.users.values():
                found = int(user)
            names = [k for k, v in self.users.items() if v == found]
        if found is None:
            return Reply(200, {"matches": [], "type": "nomatch"})
        match = {"amplitude_id": found, "user_id": next(iter(names), None)}
        return Reply(200, {"matches": [match], "type": "match_user_or_device_id"})

    def _deletion(self, headers: Mapping[str, str], body: bytes) -> Reply:
        payload = _deletion_body(headers.get("content-type", ""), body)
        if payload is None:
            return _error(400, BAD_DELETION)
        user_ids, amplitude_ids = payload.get("user_ids", []), payload.get("amplitude_ids", [])
        valid = (isinstance(user_ids, list) and isinstance(amplitude_ids, list)
                 and all(is_text(u) for u in user_ids)
                 and all(isinstance(a, int) and not isinstance(a, bool) for a in amplitude_ids)
                 and 0 < len(user_ids) + len(amplitude_ids) <= MAX_DELETIONS
                 and isinstance(payload.get("requester", ""), str))  # fmt: skip
        if not valid:
            return _error(400, BAD_DELETION)
        flags = [payload.get(k, False) for k in ("ignore_invalid_id", "delete_from_org")]
        if not all(isinstance(f, bool) for f in flags):
            return _error(400, BAD_FLAG)
        with self._lock:
            known = set(self.users.values())
            found = [(u, self.users.get(u)) for u in user_ids]
            found += [(None, a if a in known else None) for a in amplitude_ids]
        if not flags[0] and any(a is None for _, a in found):
            return _error(400, INVALID_IDS)
        today = datetime.now(UTC).date()
        requester = str(payload.get("requester") or "")
        rows = [{"amplitude_id": a, "requested_on_day": today.isoformat(), "requester": requester}
                for _, a in found if a is not None]  # fmt: skip
        day = (today + timedelta(days=JOB_DAYS)).isoformat()
        job = {"day": day, "status": "staging", "amplitude_ids": rows}
        calls = tuple(deletions.deletion(f"deletion:{a}", amplitude_id=a, user_id=u,
                                         requester=requester, day=day)
                      for u, a in found if a is not None)  # fmt: skip
        return Reply(200, [job], delivered=calls)

    def _httpapi(self, headers: Mapping[str, str], body: bytes) -> Reply:
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(400, NOT_JSON_TYPE)
        if len(body) > MAX_BYTES:
            return _error(413, TOO_BIG)
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, NOT_JSON)
        if not isinstance(payload, dict):
            return _error(400, NOT_JSON)
        if payload.get("api_key") != self.api_key:
            return _error(400, BAD_KEY, error=f"Invalid API key: {payload.get('api_key')}")
        events = payload.get("events")
        if not isinstance(events, list) or not events:
            return _error(400, NO_EVENTS, missing_field="events")
        if len(events) > MAX_EVENTS:
            return _error(413, TOO_MANY)
        min_length = (payload.get("options") or {}).get("min_id_length", DEFAULT_MIN_ID_LENGTH)
        if not isinstance(min_length, int) or isinstance(min_length, bool) or min_length < 1:
            return _error(400, BAD_OPTIONS)
        problems: Problems = {}
        for i, event in enumerate(events):
            for kind, name in event_problems(event, min_length):
                problems.setdefault(kind, {}).setdefault(name, []).append(i)
        if problems:
            return _error(400, BAD_EVENTS, error="Request missing required field", **problems)
        self._known(events)
        delivered = tuple(
            {"key": e.get("insert_id"), "event_type": e["event_type"], "user_id": e.get("user_id"),
             "device_id": e.get("device_id"), "time": e.get("time"), "event": e}
            for e in events
        )  # fmt: skip
        answer = {"code": 200, "events_ingested": len(events), "payload_size_bytes": len(body),
                  "server_upload_time": 0}  # fmt: skip
        return Reply(200, answer, delivered=delivered)

    def _usermap(self, body: bytes) -> Reply:
        form = parse_qs(body.decode(errors="replace"))
        if form.get("api_key", [""])[0] != self.api_key:
            return Reply(401, "Invalid API key", reason=BAD_KEY)
        try:
            mapping = json.loads(form.get("mapping", [""])[0])
        except ValueError:
            return Reply(400, "Invalid mapping", reason=BAD_MAPPING)
        valid = isinstance(mapping, list) and 0 < len(mapping) <= MAX_EVENTS and all(
            isinstance(m, dict) and is_text(m.get("user_id"))
            and is_text(m.get("global_user_id")) for m in mapping
        )  # fmt: skip
        if not valid or len(body) > MAX_BYTES:
            return Reply(400, "Invalid mapping", reason=BAD_MAPPING)
        delivered = tuple({"key": f"usermap:{m['user_id']}", **m} for m in mapping)
        return Reply(200, "", delivered=delivered)


def _deletion_body(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The deletion request, from JSON or a form (ids given once each)."""
    kind = content_type.split(";")[0].strip()
    if kind == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode(errors="replace"))
        try:
            amplitude_ids = [int(a) for a in form.get("amplitude_ids", [])]
        except ValueError:
            return None
        names = ("ignore_invalid_id", "delete_from_org")
        flags = {k: form[k][0].lower() == "true" for k in names if k in form}
        return {"user_ids": form.get("user_ids", []), "amplitude_ids": amplitude_ids,
                "requester": form.get("requester", [""])[0], **flags}  # fmt: skip
    if kind != "application/json":
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _error(status: int, reason: str, error: str = "", **fields: Any) -> Reply:
    return Reply(status, {"code": status, "error": error or reason, **fields}, reason=reason)


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to deliver here (the stand-in's default
    credentials)."""
    return {
        "CDP_AMPLITUDE_ENDPOINT": url,
        "CDP_AMPLITUDE_API_KEY": LOCAL_API_KEY,
        "CDP_AMPLITUDE_SECRET_KEY": LOCAL_SECRET_KEY,
    }
