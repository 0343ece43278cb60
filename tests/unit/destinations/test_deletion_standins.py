"""Each deleter against its provider's stand-in (in process, through the stand-in's own
``receive``), the stand-ins' checks of the deletion contracts, and their listings."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from shared.destinations.amplitude import AmplitudeSettings
from shared.destinations.appsflyer import AppsFlyerSettings
from shared.destinations.deletion import DONE, FAILED, REQUESTED, DeletionSettings
from shared.destinations.deletion_amplitude import AmplitudeDeleter
from shared.destinations.deletion_appsflyer import AppsFlyerDeleter
from shared.destinations.deletion_google import GoogleDeleter
from shared.destinations.deletion_intercom import IntercomDeleter
from shared.destinations.intercom import IntercomSettings
from shared.local import ga4_standin
from shared.local.ga4_standin import GA4StandIn
from shared.local.standins import appsflyer as appsflyer_module
from shared.local.standins import firebase as firebase_module
from shared.local.standins.amplitude import LOCAL_API_KEY, LOCAL_SECRET_KEY, AmplitudeStandIn
from shared.local.standins.appsflyer import API_TOKEN, APP_IDS, AppsFlyerStandIn
from shared.local.standins.base import StandIn
from shared.local.standins.firebase import PROPERTY_ID, FirebaseStandIn
from shared.local.standins.intercom import LOCAL_ACCESS_TOKEN, IntercomStandIn
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse, HttpSender

URL = "http://standin.test"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"


class InProcess(HttpSender):
    """Sends to a stand-in's ``receive`` as its HTTP server would (headers in lower case)."""

    def __init__(self, standin: StandIn) -> None:
        self.standin, self.requests = standin, 0

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply, _ = self.standin.receive(request.method, path, headers, request.body)
        body: Any = reply.body
        raw = body if isinstance(body, bytes) else (body if isinstance(body, str)
                                                    else json.dumps(body)).encode()  # fmt: skip
        return HttpResponse(reply.status, dict(reply.headers), raw)


def deletion(**overrides: Any) -> DeletionSettings:
    return DeletionSettings(**{"google_access_token": ga4_standin.LOCAL_TOKEN,
                               "appsflyer_api_token": API_TOKEN, **overrides})  # fmt: skip


def track(user_id: str | None, device_id: str) -> dict[str, Any]:
    event = {"event_type": "e", "device_id": device_id, "time": 1_795_348_770_250,
             "insert_id": f"{user_id}-{device_id}"}  # fmt: skip
    return event | ({"user_id": user_id} if user_id else {})


# Amplitude.


def amplitude_standin_with(*events: dict[str, Any]) -> AmplitudeStandIn:
    standin = AmplitudeStandIn()
    body = json.dumps({"api_key": LOCAL_API_KEY, "events": list(events)}).encode()
    reply, _ = standin.receive("POST", "/2/httpapi", {"content-type": "application/json"}, body)
    assert reply.status == 200
    return standin


def test_amplitude_deletes_user_ids_and_the_devices_found_by_user_search() -> None:
    standin = amplitude_standin_with(track("user-1", "dev-00001"), track(None, "dev-00002"))
    settings = AmplitudeSettings(endpoint=URL, api_key=LOCAL_API_KEY, secret_key=LOCAL_SECRET_KEY)
    found = AmplitudeDeleter(settings, deletion()).delete(
        {"user_id": ["user-1"], "anonymous_id": ["dev-00002", "dev-unknown"]}, InProcess(standin)
    )
    assert found.status == REQUESTED and found.provider_request_id, found
    assert sorted(d["user_id"] or "" for d in standin.listing()["deletions"]) == ["", "user-1"]
    assert len({d["amplitude_id"] for d in standin.deletions}) == 2
    assert standin.keys() == ["user-1-dev-00001", "None-dev-00002"]  # events, not deletions
    assert standin.refused == []


def test_amplitude_batches_ids_by_its_100_user_limit() -> None:
    standin = AmplitudeStandIn()
    settings = AmplitudeSettings(endpoint=URL, api_key=LOCAL_API_KEY, secret_key=LOCAL_SECRET_KEY)
    http = InProcess(standin)
    users = [f"user-{i:04d}" for i in range(250)]
    found = AmplitudeDeleter(settings, deletion()).delete({"user_id": users}, http)
    assert (found.status, http.requests) == (REQUESTED, 3)  # unknown ids are ignored
    assert standin.refused == []


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [({}, {"user_ids": ["u"], "ignore_invalid_id": True}, 401),
     (None, {"user_ids": [f"u{i}" for i in range(101)], "ignore_invalid_id": True}, 400),
     (None, {"user_ids": [], "amplitude_ids": []}, 400),
     (None, {"amplitude_ids": ["12"], "ignore_invalid_id": True}, 400),
     (None, {"user_ids": ["u"], "ignore_invalid_id": "yes"}, 400),
     (None, {"user_ids": ["never-seen"]}, 400),
     (None, {"user_ids": ["never-seen"], "ignore_invalid_id": True}, 200)],
)  # fmt: skip
def test_amplitude_standin_checks_the_deletion_request(
    headers: dict[str, str] | None, body: dict[str, Any], status: int
) -> None:
    pair = base64.b64encode(f"{LOCAL_API_KEY}:{LOCAL_SECRET_KEY}".encode()).decode()
    given = {"authorization": f"Basic {pair}", "content-type": "application/json"}
    reply, _ = AmplitudeStandIn().receive(
        "POST", "/api/2/deletions/users", given if headers is None else headers,
        json.dumps(body).encode())  # fmt: skip
    assert reply.status == status, reply


# Intercom.


def contact(standin: IntercomStandIn, **fields: str) -> str:
    headers = {"authorization": f"Bearer {LOCAL_ACCESS_TOKEN}", "intercom-version": "2.16"}
    reply, _ = standin.receive("POST", "/contacts", headers, json.dumps(fields).encode())
    return str(reply.body["id"])


def test_intercom_deletes_every_contact_found_by_external_id_or_email() -> None:
    standin = IntercomStandIn()
    mine = {contact(standin, external_id="user-1"), contact(standin, email="ada@example.com",
                                                            role="lead")}  # fmt: skip
    other = contact(standin, external_id="user-2")
    settings = IntercomSettings(endpoint=URL, access_token=LOCAL_ACCESS_TOKEN)
    deleter = IntercomDeleter(settings, deletion())
    person = {"user_id": ["user-1"], "email": ["ada@example.com"]}
    found = deleter.delete(person, InProcess(standin))
    assert (found.status, found.detail) == (DONE, "2 Intercom contacts deleted")
    assert {d["contact"] for d in standin.listing()["deletions"]} == mine
    assert set(standin.contacts) == {other}
    again = deleter.delete(person, InProcess(standin))
    assert (again.status, again.detail) == (DONE, "no Intercom contact of the person")


def test_intercom_searches_in_groups_of_15_filters() -> None:
    standin = IntercomStandIn()
    for i in range(20):
        contact(standin, external_id=f"u{i}")
    settings = IntercomSettings(endpoint=URL, access_token=LOCAL_ACCESS_TOKEN)
    http = InProcess(standin)
    found = IntercomDeleter(settings, deletion()).delete(
        {"user_id": [f"u{i}" for i in range(20)]}, http
    )
    assert (found.status, standin.contacts, http.requests) == (DONE, {}, 2 + 20)
    assert standin.refused == []
    too_many = {"query": {"operator": "OR", "value": [
        {"field": "email", "operator": "=", "value": str(i)} for i in range(16)]}}  # fmt: skip
    headers = {"authorization": f"Bearer {LOCAL_ACCESS_TOKEN}", "intercom-version": "2.16"}
    reply, _ = standin.receive("POST", "/contacts/search", headers, json.dumps(too_many).encode())
    assert reply.status == 400


# AppsFlyer.


def test_appsflyer_asks_each_app_with_the_identity_types_of_its_platform() -> None:
    standin = AppsFlyerStandIn()
    settings = AppsFlyerSettings(endpoint=URL, app_id=json.dumps(APP_IDS))
    deleter = AppsFlyerDeleter(settings, deletion(), FakeClock(NOW))
    person = {"appsflyer_id": ["1700000000000-1234567"], "advertising_id": [IDFA]}
    found = deleter.delete(person, InProcess(standin))
    assert found.status == REQUESTED and standin.refused == [], found
    asked = {(d["property_id"], d["subject_identities"][0]["identity_type"])
             for d in standin.listing()["deletions"]}  # fmt: skip
    assert asked == {("id1234567890", "appsflyer_id"), ("id1234567890", "ios_advertising_id"),
                     ("com.example.cdp", "appsflyer_id"),
                     ("com.example.cdp", "android_advertising_id")}  # fmt: skip
    assert set(found.provider_request_id.split(",")) == set(standin.dsr)
    again = deleter.delete(person, InProcess(standin))  # the identities are in open requests
    assert again.status == REQUESTED and "e215" in again.detail
    assert len(standin.deletions) == 4


@pytest.mark.parametrize(
    ("change", "code"),
    [({"api_version": "1"}, "e312"), ({"subject_request_id": "x"}, "e313"),
     ({"submitted_time": "yesterday"}, "e314"), ({"subject_request_type": "forget"}, "e322"),
     ({"property_id": "com.other"}, "e411"),
     ({"subject_identities": [{"identity_type": "email", "identity_value": "a",
                               "identity_format": "raw"}]}, "e318"),
     ({"subject_identities": [{"identity_type": "android_advertising_id", "identity_value": IDFA,
                               "identity_format": "raw"}]}, "e319"),
     ({"subject_identities": [{"identity_type": "ios_advertising_id",
                               "identity_value": "00000000-0000-0000-0000-000000000000",
                               "identity_format": "raw"}]}, "e321")],
)  # fmt: skip
def test_appsflyer_standin_answers_opendsr_errors(change: dict[str, Any], code: str) -> None:
    body = {"subject_request_id": "9b0c5f62-6c53-4b5e-9d6c-0e1f5a6b7c8d", "api_version": "0.1",
            "subject_request_type": "erasure", "submitted_time": "2026-12-02T09:30:00.000Z",
            "property_id": "id1234567890", "subject_identities": [
                {"identity_type": "appsflyer_id", "identity_value": "a", "identity_format": "raw"}],
            **change}  # fmt: skip
    headers = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}
    reply, _ = AppsFlyerStandIn().receive("POST", "/api/gdpr/v1/opendsr_requests", headers,
                                          json.dumps(body).encode())  # fmt: skip
    assert (reply.status, reply.body["error"]["af_gdpr_code"]) == (400, code)


def test_appsflyer_standin_refuses_a_missing_token_and_its_environment_has_one() -> None:
    reply, _ = AppsFlyerStandIn().receive("POST", "/api/gdpr/v1/opendsr_requests", {}, b"{}")
    assert reply.status == 401
    environment = appsflyer_module.function_environment(URL)
    assert DeletionSettings.model_validate({"appsflyer_api_token": API_TOKEN}).appsflyer_api_token
    assert environment["CDP_DELETION_APPSFLYER_API_TOKEN"] == API_TOKEN


# GA4: the Firebase destination's property and the cold path's.


def test_firebase_standin_takes_the_deletions_of_its_property() -> None:
    standin = FirebaseStandIn()
    deleter = GoogleDeleter("firebase", PROPERTY_ID, URL, deletion())
    person = {"user_id": ["u-1"], "anonymous_id": ["anon-1"], "app_instance_id": ["a" * 32]}
    found = deleter.delete(person, InProcess(standin))
    assert found.status == REQUESTED and standin.refused == [], found
    assert {(d["id"]["type"], d["propertyId"]) for d in standin.listing()["deletions"]} == {
        ("USER_ID", PROPERTY_ID),
        ("CLIENT_ID", PROPERTY_ID),
        ("APP_INSTANCE_ID", PROPERTY_ID),
    }
    wrong = GoogleDeleter("firebase", "999", URL, deletion()).delete(person, InProcess(standin))
    assert wrong.status == FAILED and "403" in wrong.detail
    unauthenticated = GoogleDeleter("firebase", PROPERTY_ID, URL, deletion(google_access_token="x"))
    assert unauthenticated.delete(person, InProcess(standin)).status == FAILED
    environment = firebase_module.function_environment(URL)
    assert environment["CDP_DELETION_FIREBASE_PROPERTY_ID"] == PROPERTY_ID


@pytest.mark.parametrize(
    ("body", "status"),
    [({"id": {"type": "CLIENT_ID", "userId": "c"}, "propertyId": "320000002"}, 200),
     ({"kind": "other", "id": {"type": "CLIENT_ID", "userId": "c"}, "propertyId": "3"}, 400),
     ({"id": {"type": "EMAIL", "userId": "c"}, "propertyId": "320000002"}, 400),
     ({"id": {"type": "CLIENT_ID", "userId": ""}, "propertyId": "320000002"}, 400),
     ({"id": {"type": "CLIENT_ID", "userId": "c"}, "firebaseProjectId": "p"}, 400),
     ({"id": {"type": "CLIENT_ID", "userId": "c"}, "propertyId": "320000002",
       "webPropertyId": "UA-1"}, 400),
     ({"id": {"type": "USER_ID", "userId": "c"}, "propertyId": "1"}, 403)],
)  # fmt: skip
def test_user_deletion_api_checks(body: dict[str, Any], status: int) -> None:
    headers = {"authorization": f"Bearer {ga4_standin.LOCAL_TOKEN}"}
    found, _ = ga4_standin.user_deletion(headers, json.dumps(body).encode(), "320000002",
                                         ga4_standin.LOCAL_TOKEN, NOW.timestamp())  # fmt: skip
    assert found == status


@pytest.fixture
def cold_ga4() -> Iterator[GA4StandIn]:
    server = GA4StandIn()
    server.start()
    yield server
    server.stop()


def test_the_cold_paths_ga4_standin_lists_its_deletions_over_http(cold_ga4: GA4StandIn) -> None:
    from shared.adapters.http import HttpxSender

    environment = ga4_standin.function_environment(cold_ga4.url)
    settings = deletion(ga4_property_id=environment["CDP_DELETION_GA4_PROPERTY_ID"])
    deleter = GoogleDeleter("ga4", settings.ga4_property_id, cold_ga4.url, settings)
    found = deleter.delete({"anonymous_id": ["anon-1"]}, HttpxSender())
    assert found.status == REQUESTED, found
    listed = httpx.get(f"{cold_ga4.url}/_standin/received").json()
    assert [d["id"] for d in listed["deletions"]] == [{"type": "CLIENT_ID", "userId": "anon-1"}]


def test_a_providers_deletions_are_listed_by_its_control_api_over_http() -> None:
    from shared.adapters.http import HttpxSender

    standin = AppsFlyerStandIn()
    url = standin.start()
    try:
        settings = AppsFlyerSettings(endpoint=url, app_id="com.example.cdp")
        deleter = AppsFlyerDeleter(settings, deletion(), FakeClock(NOW))
        assert deleter.delete({"appsflyer_id": ["af-1"]}, HttpxSender()).status == REQUESTED
        listed = httpx.get(f"{url}/_standin").json()
        assert [d["subject_identities"] for d in listed["deletions"]] == [
            [{"identity_type": "appsflyer_id", "identity_value": "af-1", "identity_format": "raw"}]
        ]
        assert listed["delivered"] == []
    finally:
        standin.stop()
