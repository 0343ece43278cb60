"""AppsFlyer's OpenDSR API: ``POST https://hq1.appsflyer.com/api/gdpr/v1/opendsr_requests``.

The contract (AppsFlyer's OpenDSR API reference): ``Authorization: Bearer <V2 API token>`` (the
Pull API's token, not the S2S dev key), a JSON ``Request``: ``subject_request_id`` (a UUID we
choose, which names the request), ``subject_request_type`` ``erasure``, ``submitted_time``
(RFC 3339), ``api_version`` ``0.1``, ``property_id`` (the app id), ``platform`` and
``subject_identities`` of ``{identity_type, identity_value, identity_format: "raw"}``.
Answer: 201 with the ``subject_request_id``, ``received_time`` and ``expected_completion_time``,
so ``requested``. A 400 names an ``af_gdpr_code``: ``e213`` (the request exists) and ``e215``
(the identity is already in an open request: an earlier attempt reached AppsFlyer) mean it is
already asked, ``e511`` means wait and retry; the others are failures.

AppsFlyer keys on app installs and the person may have the app on either platform, so each of
their ids goes to every configured app (``CDP_APPSFLYER_APP_ID``), one identity per request:
``appsflyer_id`` to each app; an advertising id as ``ios_advertising_id`` to the iOS app and
``android_advertising_id`` to the Android one (AppsFlyer refuses an identity type that does not
match the app's platform, ``e319``), the iOS vendor id (our ``device_id`` on iOS) as ``idfv``.
All-zero advertising ids (limit ad tracking) are left out: AppsFlyer refuses them (``e321``).
Identity keeps device and advertising ids in lower case; they go out in their platforms' own
forms (IDFA and IDFV upper case, Google's advertising id lower case).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shared.destinations.appsflyer import AppsFlyerSettings, app_ids
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
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest
from shared.settings import Settings

HOST = "https://hq1.appsflyer.com"
HOSTS = {"https://api2.appsflyer.com": HOST, "https://api3.appsflyer.com": HOST}
PATH = "/api/gdpr/v1/opendsr_requests"
API_VERSION = "0.1"
ALREADY_ASKED = frozenset({"e213", "e215"})
LATER = frozenset({"e511"})
UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
ADVERTISING_TYPE = {"ios": "ios_advertising_id", "android": "android_advertising_id"}

NO_TOKEN = "CDP_DELETION_APPSFLYER_API_TOKEN (AppsFlyer's V2 API token) is needed for deletion"
NO_APP = "CDP_APPSFLYER_APP_ID is needed for deletion (the OpenDSR property_id)"
NOTHING = "AppsFlyer was sent none of the person's ids"


class AppsFlyerDeleter:
    name = "appsflyer"

    def __init__(
        self, settings: AppsFlyerSettings, deletion: DeletionSettings, clock: Clock
    ) -> None:
        self.settings, self.deletion, self.clock = settings, deletion, clock
        self.url = (
            deletion.appsflyer_endpoint.rstrip("/") or host_for(settings.endpoint, HOSTS, HOST)
        ) + PATH

    def delete(self, identifiers: Mapping[str, Sequence[str]], http: HttpClient) -> DeletionOutcome:
        if not self.deletion.appsflyer_api_token:
            return DeletionOutcome(self.name, UNSUPPORTED, NO_TOKEN)
        apps = apps_by_platform(self.settings.app_id)
        if not apps:
            return DeletionOutcome(self.name, UNSUPPORTED, NO_APP)
        asks = [(app, platform, identity) for platform, app in apps
                for identity in identities(identifiers, platform)]  # fmt: skip
        if not asks:
            return DeletionOutcome(self.name, DONE, NOTHING)
        return combined(self.name, [self._request(app, platform, kind, value, identifiers, http)
                                    for app, platform, (kind, value) in asks])  # fmt: skip

    def _request(
        self, app: str, platform: str, kind: str, value: str,
        identifiers: Mapping[str, Sequence[str]], http: HttpClient,
    ) -> DeletionOutcome:  # fmt: skip
        request_id = str(uuid.uuid4())  # random: it must not be derived from the identifier
        body = {"subject_request_id": request_id, "subject_request_type": "erasure",
                "submitted_time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "subject_identities": [{"identity_type": kind, "identity_value": value,
                                        "identity_format": "raw"}],
                "property_id": app, "platform": platform, "api_version": API_VERSION}  # fmt: skip
        headers = {"Authorization": f"Bearer {self.deletion.appsflyer_api_token}",
                   "Content-Type": "application/json", "Accept": "application/json"}  # fmt: skip
        request = HttpRequest("POST", self.url, headers, json.dumps(body).encode(),
                              self.deletion.timeout_seconds)  # fmt: skip
        answer = call(http, request, self.name, identifiers, _message)
        what = f"{kind} at {app}"
        if isinstance(answer, DeletionOutcome):
            code = _code(answer.detail)
            if code in ALREADY_ASKED:
                return DeletionOutcome(self.name, REQUESTED, f"{what}: already requested ({code})")
            if code in LATER:
                return DeletionOutcome(self.name, RETRY, answer.detail)
            return answer
        named = str(json_object(answer.body).get("subject_request_id") or request_id)
        return DeletionOutcome(self.name, REQUESTED, f"{what}: erasure requested", named)


def apps_by_platform(setting: str) -> list[tuple[str, str]]:
    """``(platform, app id)`` for each configured app; one id's platform is its form (an App
    Store id is ``id`` + digits, anything else is an Android package)."""
    found = []
    for platform, app in app_ids(setting).items():
        if platform not in ADVERTISING_TYPE:
            platform = "ios" if app.startswith("id") and app[2:].isdigit() else "android"
        found.append((platform, app))
    return found


def identities(identifiers: Mapping[str, Sequence[str]], platform: str) -> list[tuple[str, str]]:
    """The OpenDSR identities an app of ``platform`` may hold of the person."""
    canonical = str.upper if platform == "ios" else str.lower  # Apple's and Google's forms
    found = [("appsflyer_id", v) for v in values(identifiers, "appsflyer_id")]
    found += [(ADVERTISING_TYPE[platform], canonical(v))
              for v in values(identifiers, "advertising_id")
              if UUID.match(v) and set(v) - {"0", "-"}]  # fmt: skip
    if platform == "ios":
        found += [("idfv", v.upper()) for v in values(identifiers, "device_id") if UUID.match(v)]
    return found


def _message(raw: bytes) -> str:
    """AppsFlyer's error (``{"error": {...}}`` or the error object itself), code first."""
    body = json_object(raw)
    nested = body.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else body
    if error.get("message") or error.get("af_gdpr_code"):
        return f"[{error.get('af_gdpr_code', '')}] {error.get('message', '')}"
    return raw[:200].decode(errors="replace")


def _code(detail: str) -> str:
    found = re.search(r"\[(e\d{3})\]", detail)
    return found.group(1) if found else ""


def deleter(
    name: str, settings: Settings, deletion: DeletionSettings, clock: Clock
) -> AppsFlyerDeleter:
    return AppsFlyerDeleter(AppsFlyerSettings(), deletion, clock)
