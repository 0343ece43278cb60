"""Amplitude's User Privacy API (v1): ``POST {host}/api/2/deletions/users``.

The contract (Amplitude's User Privacy API page): basic auth with the project's API key and
secret key; a JSON body of ``user_ids`` and/or ``amplitude_ids`` (at most 100 users per request,
a mix allowed), ``requester`` (for Amplitude's audit) and ``ignore_invalid_id`` (true: ids the
project does not know are skipped instead of failing the request). The answer lists the
deletion jobs the users were scheduled into (``day`` the job runs, ``status`` staging, submitted
or done, ``amplitude_ids``). Jobs run 10 to 13 days later and can be revoked until 3 days
before, so a 200 is ``requested``, named by the jobs' days. Repeating a request puts the same
users in the same staging job: safe to retry.

Amplitude deletes by user id or by its own Amplitude id. A person only ever seen anonymously is
known to Amplitude by device id (our ``anonymousId``, else ``context.device.id``), so those are
first looked up with the User Search API (``GET {host}/api/2/usersearch?user=<id>``, same
auth), whose ``matches`` name the Amplitude ids to delete. That search also matches user id
prefixes, so only an answer of type ``match_user_or_device_id`` (or a match whose user id is
the searched value) counts: a deletion must never reach someone whose id merely starts alike.

Hosts: ``https://amplitude.com`` (``analytics.eu.amplitude.com`` for EU residency), not the
event API's ``api2``; a stand-in or proxy at ``CDP_AMPLITUDE_ENDPOINT`` serves both.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from shared.destinations.amplitude import AmplitudeSettings
from shared.destinations.deletion import (
    DONE,
    REQUESTED,
    UNSUPPORTED,
    DeletionOutcome,
    DeletionSettings,
    HttpClient,
    call,
    combined,
    host_for,
    values,
)
from shared.destinations.delivery import json_object
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest
from shared.settings import Settings

HOST = "https://amplitude.com"
HOSTS = {"https://api2.amplitude.com": HOST, "https://api.amplitude.com": HOST,
         "https://api.eu.amplitude.com": "https://analytics.eu.amplitude.com"}  # fmt: skip
DELETIONS_PATH = "/api/2/deletions/users"
SEARCH_PATH = "/api/2/usersearch"
MAX_USERS = 100
EXACT = "match_user_or_device_id"  # the user search's answer type for an exact id match
USER_TYPES = ("user_id",)
DEVICE_TYPES = ("anonymous_id", "device_id")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

NO_SECRET = "CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY are needed for deletion"
NOTHING_KNOWN = "Amplitude knows none of the person's ids"


class AmplitudeDeleter:
    name = "amplitude"

    def __init__(self, settings: AmplitudeSettings, deletion: DeletionSettings) -> None:
        self.settings, self.deletion = settings, deletion
        self.host = deletion.amplitude_endpoint.rstrip("/") or host_for(
            settings.endpoint, HOSTS, HOST
        )

    def delete(self, identifiers: Mapping[str, Sequence[str]], http: HttpClient) -> DeletionOutcome:
        if not (self.settings.api_key and self.settings.secret_key):
            return DeletionOutcome(self.name, UNSUPPORTED, NO_SECRET)
        users = values(identifiers, *USER_TYPES)
        found = self._amplitude_ids(device_ids(identifiers), identifiers, http)
        if isinstance(found, DeletionOutcome):
            return found
        ids: list[tuple[str, Any]] = [("user_ids", u) for u in users]
        ids += [("amplitude_ids", a) for a in found if a]
        if not ids:
            return DeletionOutcome(self.name, DONE, NOTHING_KNOWN)
        parts = [self._request(batch, identifiers, http) for batch in _batches(ids)]
        return combined(self.name, parts)

    def _headers(self) -> dict[str, str]:
        pair = f"{self.settings.api_key}:{self.settings.secret_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode(),
                "Accept": "application/json"}  # fmt: skip

    def _amplitude_ids(
        self, devices: Sequence[str], identifiers: Mapping[str, Sequence[str]], http: HttpClient
    ) -> list[int] | DeletionOutcome:
        """The Amplitude ids the User Search API gives for each device id."""
        found: dict[int, None] = {}
        for device in devices:
            url = f"{self.host}{SEARCH_PATH}?{urlencode({'user': device})}"
            request = HttpRequest("GET", url, self._headers(), b"", self.deletion.timeout_seconds)
            answer = call(http, request, self.name, identifiers, _message)
            if isinstance(answer, DeletionOutcome):
                return answer
            for amplitude_id in exact_matches(json_object(answer.body), device):
                found.setdefault(amplitude_id, None)
        return list(found)

    def _request(
        self, batch: Sequence[tuple[str, Any]], identifiers: Mapping[str, Sequence[str]],
        http: HttpClient,
    ) -> DeletionOutcome:  # fmt: skip
        body: dict[str, Any] = {"requester": self.deletion.requester, "ignore_invalid_id": True}
        for field, value in batch:
            body.setdefault(field, []).append(value)
        headers = {**self._headers(), "Content-Type": "application/json"}
        raw = json.dumps(body).encode()
        request = HttpRequest(
            "POST", self.host + DELETIONS_PATH, headers, raw, self.deletion.timeout_seconds
        )
        answer = call(http, request, self.name, identifiers, _message)
        if isinstance(answer, DeletionOutcome):
            return answer
        days = list(dict.fromkeys(str(j["day"]) for j in _jobs(answer.body) if j.get("day")))
        detail = f"deletion of {len(batch)} ids requested" + (
            f" (the job of {', '.join(days)})" if days else ""
        )
        return DeletionOutcome(self.name, REQUESTED, detail, ",".join(days))


def device_ids(identifiers: Mapping[str, Sequence[str]]) -> list[str]:
    """The device ids to search: identity keeps a device id in lower case, Amplitude as it was
    sent (an iOS vendor id upper case), so a UUID is searched in both forms."""
    found: dict[str, None] = {}
    for value in values(identifiers, *DEVICE_TYPES):
        found.setdefault(value, None)
        if UUID.match(value):
            found.setdefault(value.upper(), None)
    return list(found)


def exact_matches(answer: Mapping[str, Any], device: str) -> list[int]:
    """The Amplitude ids a user search found for exactly ``device``. The search also matches
    user id prefixes: unless the answer says it matched a user or device id, only a match whose
    user id is the searched value counts (never someone whose id merely starts with it)."""
    exact = answer.get("type") == EXACT
    return [m["amplitude_id"] for m in answer.get("matches") or []
            if isinstance(m, dict) and isinstance(m.get("amplitude_id"), int)
            and not isinstance(m["amplitude_id"], bool)
            and (exact or m.get("user_id") == device)]  # fmt: skip


def _batches(ids: Sequence[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
    """At most 100 users per request, user ids and Amplitude ids mixed."""
    return [list(ids[i : i + MAX_USERS]) for i in range(0, len(ids), MAX_USERS)]


def _jobs(raw: bytes) -> list[dict[str, Any]]:
    """The scheduled jobs: a list of jobs (a single job object is taken as one)."""
    try:
        found = json.loads(raw or b"[]")
    except ValueError:
        return []
    items = found if isinstance(found, list) else [found]
    return [j for j in items if isinstance(j, dict)]


def _message(raw: bytes) -> str:
    body = json_object(raw)
    text = body.get("error") or body.get("message")
    return str(text) if text else raw[:200].decode(errors="replace")


def deleter(
    name: str, settings: Settings, deletion: DeletionSettings, clock: Clock
) -> AmplitudeDeleter:
    return AmplitudeDeleter(AmplitudeSettings(), deletion)
