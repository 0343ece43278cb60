"""GA4's deletions: the Google Analytics User Deletion API, for the ``firebase`` destination's
property and the cold path's (``ga4``).

The contract (the User Deletion API's overview and reference): ``POST
https://www.googleapis.com/analytics/v3/userDeletion/userDeletionRequests:upsert`` with an
OAuth token of scope ``analytics.user.deletion`` and a ``userDeletionRequest``: ``kind``
``analytics#userDeletionRequest``, ``id`` ``{"type", "userId"}`` and, for a GA4 property,
``propertyId`` (the property's number). A GA4 property takes the three id types: ``CLIENT_ID``
(the web stream's client id), ``USER_ID`` and ``APP_INSTANCE_ID`` (the Firebase SDK's app
instance id). One id per request; the answer is the request with its ``deletionRequestTime``.
GA4 deletes within days (backups later), so a 200 is ``requested``. ``upsert`` is idempotent:
safe to retry. The Admin API's ``properties.submitUserDeletion`` is alpha; this API is not.

Which ids: the client ids GA4 was sent (the GA cookie's id, ``GA1.1.x.y`` as ``x.y``, and the
anonymousId, which the senders use when no GA client id came), the user id when GA4 could have
received it (not an email or phone number: the senders never send those) and app instance ids.

The token: ``CDP_DELETION_GOOGLE_ACCESS_TOKEN`` when set (locally: the stand-ins' fixed
bearer); otherwise the function's service account token from the metadata server, asked for
with that scope. The service account must be a user of the GA4 property (Editor or above).
Without ``CDP_DELETION_FIREBASE_PROPERTY_ID`` (``..._GA4_PROPERTY_ID`` for the cold path) the
outcome is ``unsupported``: the Measurement Protocol's ids do not name the property.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from shared.destinations.deletion import (
    DONE,
    REQUESTED,
    RETRY,
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
from shared.destinations.firebase import FirebaseSettings
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest
from shared.settings import Settings
from shared.tiering import ga4

HOST = "https://www.googleapis.com"
HOSTS = {"https://www.google-analytics.com": HOST, "https://region1.google-analytics.com": HOST}
PATH = "/analytics/v3/userDeletion/userDeletionRequests:upsert"
KIND = "analytics#userDeletionRequest"
SCOPE = "https://www.googleapis.com/auth/analytics.user.deletion"
METADATA_TOKEN = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
PROPERTY_VARIABLE = {"firebase": "CDP_DELETION_FIREBASE_PROPERTY_ID",
                     "ga4": "CDP_DELETION_GA4_PROPERTY_ID"}  # fmt: skip

NO_PROPERTY = "{variable} is not set: GA4's deletion needs the property's number"
BAD_PROPERTY = "{variable} must be the GA4 property's number (digits), not a stream id"
NO_TOKEN = "no access token for the User Deletion API: {why}"
NOTHING = "GA4 was sent none of the person's ids"


class GoogleToken:
    """The OAuth token: a fixed one from the settings, else the metadata server's."""

    def __init__(self, fixed: str, timeout_seconds: float) -> None:
        self.fixed, self.timeout_seconds = fixed, timeout_seconds

    def get(self, http: HttpClient, who: str) -> str | DeletionOutcome:
        if self.fixed:
            return self.fixed
        url = f"{METADATA_TOKEN}?scopes={SCOPE}"
        request = HttpRequest("GET", url, {"Metadata-Flavor": "Google"}, b"", self.timeout_seconds)
        answer = call(http, request, who, {}, lambda raw: raw[:200].decode(errors="replace"))
        if isinstance(answer, DeletionOutcome):
            return DeletionOutcome(who, answer.status, NO_TOKEN.format(why=answer.detail))
        token = json_object(answer.body).get("access_token")
        if not isinstance(token, str) or not token:
            return DeletionOutcome(who, RETRY, NO_TOKEN.format(why="no access_token answered"))
        return token


class GoogleDeleter:
    def __init__(
        self, name: str, property_id: str, endpoint: str, deletion: DeletionSettings
    ) -> None:
        self.name, self.property_id, self.deletion = name, property_id.strip(), deletion
        self.host = deletion.google_endpoint.rstrip("/") or host_for(endpoint, HOSTS, HOST)
        self.token = GoogleToken(deletion.google_access_token, deletion.timeout_seconds)

    def delete(self, identifiers: Mapping[str, Sequence[str]], http: HttpClient) -> DeletionOutcome:
        variable = PROPERTY_VARIABLE.get(self.name, "the property id")
        if not self.property_id:
            return DeletionOutcome(self.name, UNSUPPORTED, NO_PROPERTY.format(variable=variable))
        if not self.property_id.isdigit():
            return DeletionOutcome(self.name, UNSUPPORTED, BAD_PROPERTY.format(variable=variable))
        ids = ga4_ids(identifiers)
        if not ids:
            return DeletionOutcome(self.name, DONE, NOTHING)
        token = self.token.get(http, self.name)
        if isinstance(token, DeletionOutcome):
            return token
        return combined(self.name, [self._upsert(kind, value, token, identifiers, http)
                                    for kind, value in ids])  # fmt: skip

    def _upsert(
        self, kind: str, value: str, token: str, identifiers: Mapping[str, Sequence[str]],
        http: HttpClient,
    ) -> DeletionOutcome:  # fmt: skip
        body = {"kind": KIND, "id": {"type": kind, "userId": value},
                "propertyId": self.property_id}  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json"}  # fmt: skip
        request = HttpRequest("POST", self.host + PATH, headers, json.dumps(body).encode(),
                              self.deletion.timeout_seconds)  # fmt: skip
        answer = call(http, request, self.name, identifiers, _message)
        if isinstance(answer, DeletionOutcome):
            return answer
        when = str(json_object(answer.body).get("deletionRequestTime") or "")
        detail = f"GA4 property {self.property_id}: deletion requested by {kind}"
        return DeletionOutcome(self.name, REQUESTED, detail, f"{kind}@{when}" if when else "")


def ga4_ids(identifiers: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """``(id type, value)`` for each id GA4 may hold of the person."""
    found: dict[tuple[str, str], None] = {}
    for value in values(identifiers, "ga_client_id", "anonymous_id"):
        client = ga4.client_id_of({"context": {"ga_client_id": value}}) or value
        found.setdefault(("CLIENT_ID", client), None)
    for value in values(identifiers, "user_id"):
        if len(value) <= ga4.MAX_USER_ID and not ga4.looks_personal(value):
            found.setdefault(("USER_ID", value), None)
    for value in values(identifiers, "app_instance_id"):
        if ga4.APP_INSTANCE_ID.match(value):
            found.setdefault(("APP_INSTANCE_ID", value), None)
    return list(found)


def _message(raw: bytes) -> str:
    error = json_object(raw).get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("status") or "")
    return raw[:200].decode(errors="replace")


def deleter(
    name: str, settings: Settings, deletion: DeletionSettings, clock: Clock
) -> GoogleDeleter:
    """``firebase``: the destination's property, host from ``CDP_FIREBASE_ENDPOINT``; ``ga4``:
    the cold path's, host from ``CDP_GA4_ENDPOINT``."""
    if name == "ga4":
        return GoogleDeleter(name, deletion.ga4_property_id, settings.ga4_endpoint, deletion)
    firebase = FirebaseSettings()
    return GoogleDeleter(name, deletion.firebase_property_id, firebase.endpoint, deletion)
