"""Deletion at the providers: which destinations are asked, the shared rules (status codes,
combined outcomes, masking, hosts) and each deleter's outcome for each kind of answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import pytest

from shared.destinations.amplitude import AmplitudeSettings
from shared.destinations.appsflyer import AppsFlyerSettings
from shared.destinations.deletion import (
    DONE,
    FAILED,
    REQUESTED,
    RETRY,
    UNSUPPORTED,
    Deleter,
    DeletionOutcome,
    DeletionSettings,
    combined,
    deleters,
    host_for,
    masked,
    status_of,
    without_deletion,
)
from shared.destinations.deletion_amplitude import AmplitudeDeleter, device_ids, exact_matches
from shared.destinations.deletion_appsflyer import AppsFlyerDeleter, apps_by_platform, identities
from shared.destinations.deletion_google import GoogleDeleter, ga4_ids
from shared.destinations.deletion_intercom import IntercomDeleter
from shared.destinations.intercom import IntercomSettings
from shared.errors import BackendUnavailable
from shared.ports.clock import FakeClock
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse
from shared.settings import Settings

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
DELETION = DeletionSettings(
    appsflyer_api_token="af-token",
    google_access_token="g-token",
    firebase_property_id="310000001",
    ga4_property_id="320000002",
)
PERSON = {"user_id": ["u-1"], "anonymous_id": ["anon-1"], "email": ["ada@example.com"],
          "appsflyer_id": ["1700000000000-1234567"],
          "advertising_id": ["6D92078A-8246-4BA4-AE5B-76104861E7DC"]}  # fmt: skip


def amplitude() -> AmplitudeDeleter:
    return AmplitudeDeleter(AmplitudeSettings(api_key="k", secret_key="s"), DELETION)


def intercom() -> IntercomDeleter:
    return IntercomDeleter(IntercomSettings(access_token="t"), DELETION)


def firebase() -> GoogleDeleter:
    return GoogleDeleter("firebase", "310000001", "https://www.google-analytics.com", DELETION)


def appsflyer() -> AppsFlyerDeleter:
    settings = AppsFlyerSettings(app_id='{"ios": "id123456789", "android": "com.example.app"}')
    return AppsFlyerDeleter(settings, DELETION, FakeClock(NOW))


# Which destinations are asked.


def test_enabled_destinations_with_a_deletion_api_get_a_deleter_the_others_are_listed() -> None:
    settings = Settings(destinations=["amplitude", "meta", "intercom", "slack", "webhook",
                                      "appsflyer", "firebase"])  # fmt: skip
    assert [d.name for d in deleters(settings, DELETION)] == [
        "amplitude", "intercom", "appsflyer", "firebase"]  # fmt: skip
    assert without_deletion(settings) == ["meta", "slack", "webhook"]


def test_the_cold_paths_ga4_is_asked_only_when_configured() -> None:
    assert deleters(Settings(destinations=[], ga4_measurement_id="G-1"), DELETION) == []
    configured = Settings(destinations=[], ga4_measurement_id="G-1", ga4_api_secret="x")
    [ga4] = deleters(configured, DELETION)
    assert ga4.name == "ga4" and without_deletion(configured) == []


def test_missing_credentials_or_property_are_unsupported_with_the_reason() -> None:
    bare = DeletionSettings()
    cases: list[tuple[Deleter, str]] = [
        (AmplitudeDeleter(AmplitudeSettings(api_key="k"), bare), "CDP_AMPLITUDE_SECRET_KEY"),
        (IntercomDeleter(IntercomSettings(), bare), "CDP_INTERCOM_ACCESS_TOKEN"),
        (AppsFlyerDeleter(AppsFlyerSettings(app_id="id1"), bare, FakeClock(NOW)),
         "CDP_DELETION_APPSFLYER_API_TOKEN"),
        (AppsFlyerDeleter(AppsFlyerSettings(), DELETION, FakeClock(NOW)), "CDP_APPSFLYER_APP_ID"),
        (GoogleDeleter("firebase", "", "", bare), "CDP_DELETION_FIREBASE_PROPERTY_ID"),
        (GoogleDeleter("ga4", "G-123", "", bare), "CDP_DELETION_GA4_PROPERTY_ID must be"),
    ]  # fmt: skip
    http = FakeHttpSender()
    for deleter, reason in cases:
        found = deleter.delete(PERSON, http)
        assert (found.status, reason in found.detail) == (UNSUPPORTED, True), found
    assert http.requests == []


# The shared rules.


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, DONE), (201, DONE), (204, DONE), (400, FAILED), (401, FAILED), (403, FAILED),
     (404, FAILED), (408, RETRY), (409, FAILED), (429, RETRY), (500, RETRY), (503, RETRY)],
)  # fmt: skip
def test_status_codes(status: int, expected: str) -> None:
    assert status_of(status) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [((DONE, REQUESTED), REQUESTED), ((REQUESTED, FAILED), FAILED), ((FAILED, RETRY), RETRY),
     ((DONE, DONE), DONE), ((UNSUPPORTED, REQUESTED), UNSUPPORTED), ((), DONE)],
)  # fmt: skip
def test_combined_outcomes_keep_the_most_urgent(statuses: Sequence[str], expected: str) -> None:
    parts = [DeletionOutcome("x", s, f"d{i}", f"r{i}") for i, s in enumerate(statuses)]
    found = combined("x", parts)
    assert found.status == expected
    assert found.provider_request_id == ",".join(f"r{i}" for i in range(len(statuses)))


def test_provider_messages_lose_the_persons_identifiers() -> None:
    text = masked("user ada@example.com (u-1) is invalid", PERSON)
    assert "ada@example.com" not in text and "u-1" not in text


def test_deletion_hosts_follow_the_destinations_endpoint() -> None:
    hosts = {"https://api2.amplitude.com": "https://amplitude.com"}
    assert host_for("https://api2.amplitude.com/", hosts, "F") == "https://amplitude.com"
    assert host_for("http://127.0.0.1:8600", hosts, "F") == "http://127.0.0.1:8600"
    assert host_for("", hosts, "F") == "F"


def test_which_ids_ga4_and_appsflyer_are_asked_about() -> None:
    person = {
        "ga_client_id": ["GA1.1.111.222"],
        "anonymous_id": ["anon-1"],
        "user_id": ["u-1", "ada@example.com"],
        "app_instance_id": ["0" * 31 + "a", "bad"],
    }
    assert ga4_ids(person) == [
        ("CLIENT_ID", "111.222"),
        ("CLIENT_ID", "anon-1"),
        ("USER_ID", "u-1"),
        ("APP_INSTANCE_ID", "0" * 31 + "a"),
    ]
    assert apps_by_platform("123") == [("ios", "id123")]
    assert apps_by_platform("com.x") == [("android", "com.x")]
    ids = {
        "advertising_id": ["00000000-0000-0000-0000-000000000000", PERSON["advertising_id"][0]],
        "device_id": ["6D92078A-8246-4BA4-AE5B-76104861E7DD"],
        "appsflyer_id": ["a1"],
    }
    assert identities(ids, "android") == [
        ("appsflyer_id", "a1"),
        ("android_advertising_id", PERSON["advertising_id"][0].lower()),
    ]
    assert [t for t, _ in identities(ids, "ios")] == ["appsflyer_id", "ios_advertising_id", "idfv"]
    lower = {"advertising_id": [PERSON["advertising_id"][0].lower()]}
    assert identities(lower, "ios") == [("ios_advertising_id", PERSON["advertising_id"][0])]
    assert device_ids(
        {"device_id": ["6d92078a-8246-4ba4-ae5b-76104861e7dd"], "anonymous_id": ["a"]}
    ) == ["a", "6d92078a-8246-4ba4-ae5b-76104861e7dd", "6D92078A-8246-4BA4-AE5B-76104861E7DD"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"type": "match_user_or_device_id", "matches": [{"amplitude_id": 7, "user_id": "u"}]},
            [7],
        ),
        ({"type": "match_user_prefix", "matches": [{"amplitude_id": 8, "user_id": "dev-10"}]}, []),
        ({"type": "match_user_prefix", "matches": [{"amplitude_id": 9, "user_id": "dev-1"}]}, [9]),
        ({"type": "nomatch", "matches": []}, []),
        ({"matches": [{"amplitude_id": "7", "user_id": "dev-1"}]}, []),
        ({}, []),
    ],
)
def test_only_exact_user_search_matches_are_deleted(
    answer: dict[str, object], expected: list[int]
) -> None:
    assert exact_matches(answer, "dev-1") == expected


# Outcomes by the providers' answers (the deleters' first call answered as given).


def answering(status: int, body: object = None, fail: bool = False) -> FakeHttpSender:
    def respond(request: HttpRequest) -> HttpResponse:
        if fail:
            raise BackendUnavailable("timeout")
        if "usersearch" in request.url:
            return HttpResponse(200, {}, json.dumps({"matches": []}).encode())
        if request.url.endswith("/contacts/search") and status < 300:
            found = {"data": [{"id": "c1"}], "total_count": 1}
            return HttpResponse(200, {}, json.dumps(found).encode())
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        return HttpResponse(status, {}, raw)

    return FakeHttpSender(respond)


DELETERS: Mapping[str, Callable[[], Deleter]] = {
    "amplitude": amplitude,
    "intercom": intercom,
    "firebase": firebase,
    "appsflyer": appsflyer,
}
SUCCESS = {
    "amplitude": (200, REQUESTED),
    "intercom": (200, DONE),
    "firebase": (200, REQUESTED),
    "appsflyer": (201, REQUESTED),
}


@pytest.mark.parametrize("name", DELETERS)
@pytest.mark.parametrize(
    ("status", "fail", "expected"),
    [(None, False, None), (400, False, FAILED), (401, False, FAILED), (403, False, FAILED),
     (408, False, RETRY), (429, False, RETRY), (500, False, RETRY), (503, False, RETRY),
     (0, True, RETRY)],
)  # fmt: skip
def test_outcome_by_answer(name: str, status: int | None, fail: bool, expected: str | None) -> None:
    code, success = SUCCESS[name]
    error = {"error": {"message": "bad ada@example.com"}, "errors": [{"message": "bad"}]}
    http = answering(status or code, error if status else {}, fail)
    found = DELETERS[name]().delete(PERSON, http)
    assert (found.destination, found.status) == (name, expected or success), found
    assert "ada@example.com" not in found.detail and "g-token" not in found.detail


def test_appsflyer_already_asked_is_requested_and_its_internal_error_retries() -> None:
    for code, expected in (("e215", REQUESTED), ("e213", REQUESTED), ("e511", RETRY),
                           ("e319", FAILED)):  # fmt: skip
        body = {"error": {"code": 400, "message": "m", "af_gdpr_code": code}}
        assert appsflyer().delete(PERSON, answering(400, body)).status == expected, code


def test_intercom_absent_contacts_are_done() -> None:
    def respond(request: HttpRequest) -> HttpResponse:
        if request.method == "DELETE":
            return HttpResponse(404, {}, b'{"errors": [{"code": "not_found"}]}')
        found = {"data": [{"id": "gone"}], "total_count": 1}
        return HttpResponse(200, {}, json.dumps(found).encode())

    assert intercom().delete(PERSON, FakeHttpSender(respond)).status == DONE
    nobody = FakeHttpSender(lambda _: HttpResponse(200, {}, b'{"data": [], "total_count": 0}'))
    found = intercom().delete(PERSON, nobody)
    assert (found.status, found.detail) == (DONE, "no Intercom contact of the person")
    assert intercom().delete({"anonymous_id": ["a"]}, nobody).status == DONE


def test_ga4_takes_the_service_accounts_token_from_the_metadata_server() -> None:
    def respond(request: HttpRequest) -> HttpResponse:
        if request.url.startswith("http://metadata.google.internal/"):
            assert request.headers["Metadata-Flavor"] == "Google"
            assert "analytics.user.deletion" in request.url
            return HttpResponse(200, {}, b'{"access_token": "sa-token", "expires_in": 3599}')
        assert request.headers["Authorization"] == "Bearer sa-token"
        return HttpResponse(200, {}, b'{"deletionRequestTime": "2026-12-02T09:30:00Z"}')

    cloud = DeletionSettings(firebase_property_id="310000001")
    deleter = GoogleDeleter("firebase", "310000001", "", cloud)
    http = FakeHttpSender(respond)
    found = deleter.delete({"user_id": ["u-1"]}, http)
    assert (found.status, found.provider_request_id) == (REQUESTED, "USER_ID@2026-12-02T09:30:00Z")
    assert http.requests[1].url == ("https://www.googleapis.com/analytics/v3/userDeletion/"
                                    "userDeletionRequests:upsert")  # fmt: skip
    down = FakeHttpSender(lambda _: HttpResponse(503, {}, b""))
    assert deleter.delete({"user_id": ["u-1"]}, down).status == RETRY
