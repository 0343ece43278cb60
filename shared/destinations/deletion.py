"""Deletion at the providers: a privacy delete asks every enabled destination that offers a
deletion API to forget the person, and names those that do not.

One ``Deleter`` per provider, each in its own module (``deletion_amplitude.py``,
``deletion_intercom.py``, ``deletion_google.py`` for Firebase and the cold path's GA4,
``deletion_appsflyer.py``). ``delete(identifiers, http)`` takes the person's identifiers by type
(``user_id``, ``anonymous_id``, ``email``, ``device_id``, ``advertising_id``, ``ga_client_id``,
``appsflyer_id``, ``app_instance_id``...) and answers one ``DeletionOutcome``:

- ``done``: nothing of the person is left there (Intercom's contacts deleted, or none found);
- ``requested``: the provider accepted a deletion it runs later (Amplitude's job, GA4's and
  AppsFlyer's requests), ``provider_request_id`` naming it where the provider gives a name;
- ``retry``: a 408, 429, 5xx or no answer: the privacy job tries again later (every provider
  call here is safe to repeat);
- ``failed``: a 4xx: the provider's own message says why; retrying the same call cannot help;
- ``unsupported``: the destination is enabled but cannot be asked (a credential or a property
  id not configured), with the reason.

Meta's Conversions API, Slack and the generic webhook have no deletion API: ``without_deletion``
lists them so the privacy request records them. The webhook gets no deletion notice: a notice is
not a deletion, and posting the person's identifiers once more to the operator's endpoint after
the delete would spread what the request is removing; its receiver is the operator's own system.

Details never carry a credential, and a provider message that echoes one of the person's
identifiers has it masked: outcomes end up in the audit trail, which outlives the identifiers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.destinations.delivery import Outcome, outcome
from shared.errors import RetryableError
from shared.ports.clock import Clock, SystemClock
from shared.ports.http import HttpRequest, HttpResponse, HttpSender
from shared.settings import Settings

HttpClient = HttpSender  # the outbound HTTP port (``shared.ports.http``)
T = TypeVar("T")

REQUESTED, DONE, FAILED, RETRY, UNSUPPORTED = "requested", "done", "failed", "retry", "unsupported"
STATUSES = (REQUESTED, DONE, FAILED, RETRY, UNSUPPORTED)
_PRECEDENCE = {RETRY: 0, FAILED: 1, UNSUPPORTED: 2, REQUESTED: 3, DONE: 4}

# Each deleter's module, found by destination name (the cold path's GA4 is ``ga4``).
MODULES = {
    "amplitude": "shared.destinations.deletion_amplitude",
    "intercom": "shared.destinations.deletion_intercom",
    "appsflyer": "shared.destinations.deletion_appsflyer",
    "firebase": "shared.destinations.deletion_google",
    "ga4": "shared.destinations.deletion_google",
}
NO_DELETION_API = {
    "meta": "the Conversions API has no deletion endpoint (Meta deletes on the advertiser's "
    "request to Meta, outside this API)",
    "slack": "Slack holds messages posted to a channel, not people",
    "webhook": "the receiver is the operator's own system: delete there (no notice is sent)",
}
NO_ANSWER = "no answer (timeout or connection refused)"
MAX_DETAIL = 300


@dataclass(frozen=True)
class DeletionOutcome:
    destination: str
    status: str  # "requested" | "done" | "failed" | "retry" | "unsupported"
    detail: str = ""
    provider_request_id: str = ""


class Deleter(Protocol):
    name: str

    def delete(
        self, identifiers: Mapping[str, Sequence[str]], http: HttpClient
    ) -> DeletionOutcome: ...


class DeletionSettings(BaseSettings):
    """What deletion needs beyond each destination's own settings (``CDP_DELETION_*``).

    Hosts: unset, each follows its destination's endpoint (Amplitude's and AppsFlyer's deletion
    APIs live on other hosts than their event APIs; a stand-in or proxy serves both)."""

    model_config = SettingsConfigDict(env_prefix="CDP_DELETION_", extra="ignore")

    requester: str = "cdp-privacy"  # who asks, for the providers' audit (Amplitude, AppsFlyer)
    amplitude_endpoint: str = ""  # default https://amplitude.com (EU analytics.eu.amplitude.com)
    appsflyer_endpoint: str = ""  # default https://hq1.appsflyer.com
    appsflyer_api_token: str = Field(default="", repr=False)  # AppsFlyer's V2 API token
    google_endpoint: str = ""  # default https://www.googleapis.com
    # Unset in the cloud: the function's service account token from the metadata server.
    google_access_token: str = Field(default="", repr=False)
    firebase_property_id: str = ""  # the GA4 property of CDP_FIREBASE_* streams (digits)
    ga4_property_id: str = ""  # the GA4 property of the cold path's CDP_GA4_MEASUREMENT_ID
    timeout_seconds: float = 10.0


# What every deleter shares.


def status_of(code: int) -> str:
    """The one rule, as delivery's: 2xx accepted, 408/429/5xx retry, other 4xx failed."""
    found = outcome(code)
    return {Outcome.SENT: DONE, Outcome.RETRY: RETRY}.get(found, FAILED)


def exchange(http: HttpClient, request: HttpRequest) -> HttpResponse | None:
    """The answer, or None when none came (the sender raises a retryable error)."""
    try:
        return http.send(request)
    except RetryableError:
        return None


def call(
    http: HttpClient,
    request: HttpRequest,
    who: str,
    identifiers: Mapping[str, Sequence[str]],
    message: Callable[[bytes], str],
    accept: tuple[int, ...] = (),
) -> HttpResponse | DeletionOutcome:
    """The 2xx answer to ``request`` (or one with an ``accept`` status), else the outcome it
    means for destination ``who``'s deletion: no answer or a retryable status → retry, another
    4xx → failed, with the provider's ``message`` (identifiers masked)."""
    answer = exchange(http, request)
    what = f"{request.method} {urlsplit(request.url).path}"
    if answer is None:
        return DeletionOutcome(who, RETRY, f"{what}: {NO_ANSWER}")
    status = status_of(answer.status)
    if status == DONE or answer.status in accept:
        return answer
    text = masked(message(answer.body), identifiers)
    return DeletionOutcome(who, status, f"{what} answered {answer.status}: {text}")


def masked(text: str, identifiers: Mapping[str, Sequence[str]]) -> str:
    """``text`` (a provider's message) without any of the person's identifier values, cut."""
    for value in sorted({v for vs in identifiers.values() for v in vs if v}, key=len, reverse=True):
        text = text.replace(value, "…")
    return text[:MAX_DETAIL]


def values(identifiers: Mapping[str, Sequence[str]], *types: str) -> list[str]:
    """The distinct non-empty values of the given types, in order."""
    found: dict[str, None] = {}
    for kind in types:
        for value in identifiers.get(kind) or ():
            if isinstance(value, str) and value.strip():
                found.setdefault(value.strip(), None)
    return list(found)


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def combined(destination: str, parts: Iterable[DeletionOutcome]) -> DeletionOutcome:
    """Several calls' outcomes as one: the most urgent status (retry, failed, unsupported,
    requested, done), every detail, every provider request id."""
    found = list(parts)
    if not found:
        return DeletionOutcome(destination, DONE, "nothing to delete")
    status = min((p.status for p in found), key=_PRECEDENCE.__getitem__)
    details = list(dict.fromkeys(p.detail for p in found if p.detail))
    ids = list(dict.fromkeys(p.provider_request_id for p in found if p.provider_request_id))
    return DeletionOutcome(destination, status, "; ".join(details)[:MAX_DETAIL], ",".join(ids))


def host_for(endpoint: str, defaults: Mapping[str, str], fallback: str) -> str:
    """The deletion API's base URL from the destination's event endpoint: a provider's known
    event host maps to its deletion host; any other endpoint (a stand-in, a proxy) serves both."""
    base = endpoint.rstrip("/")
    if not base:
        return fallback
    return defaults.get(base, base)


# Which destinations are asked.


Factory = Callable[[str, Settings, DeletionSettings, Clock], Deleter]


def _factory(name: str) -> Factory:
    module = importlib.import_module(MODULES[name])
    factory: Factory = module.deleter
    return factory


def deleters(
    settings: Settings, deletion: DeletionSettings | None = None, clock: Clock | None = None
) -> list[Deleter]:
    """A deleter per enabled destination with a deletion API, plus the cold path's GA4 when it is
    configured (``CDP_GA4_MEASUREMENT_ID`` and ``CDP_GA4_API_SECRET``). Each reads its
    destination's settings from the environment, as the destination does."""
    chosen = deletion if deletion is not None else DeletionSettings()
    now = clock if clock is not None else SystemClock()
    names = [n for n in settings.enabled_destinations() if n in MODULES]
    if settings.ga4_measurement_id and settings.ga4_api_secret:
        names.append("ga4")
    return [_factory(name)(name, settings, chosen, now) for name in dict.fromkeys(names)]


def without_deletion(settings: Settings) -> list[str]:
    """The enabled destinations no deletion reaches (the privacy request records them)."""
    return [n for n in settings.enabled_destinations() if n not in MODULES]


def reason_without(name: str) -> str:
    """Why ``name`` cannot be asked to delete (for the request's record and the docs)."""
    return NO_DELETION_API.get(name, "no deletion API known for this destination")
