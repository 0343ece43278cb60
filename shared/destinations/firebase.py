"""Firebase / GA4 for engaged users: the Measurement Protocol, in real time.

The cold path's mapping (``shared.tiering.ga4``) turns each event into a GA4 event with its
limits (names ≤ 40 characters, ≤ 25 params, reserved names avoided, ``session_id`` and
``engagement_time_msec``, timestamps within 72 hours); this module adds who it is about and
where it goes:

- web events go to the web stream (``measurement_id`` in the query) with ``client_id`` (the GA
  cookie's id when the page passed it on, else the anonymousId);
- app events (the event's platform is ios or android) go to the app stream of that platform
  (``firebase_app_id``) with ``app_instance_id``, which only the Firebase SDK knows: an app event
  without one is skipped with the reason, not guessed from ``context.device.id``;
- ``user_id`` is the Segment userId unless it is an email or phone (GA4 forbids PII there);
  ``user_properties`` come from the person's profile traits (non-personal scalars only), so an
  identify's traits reach GA4 on the person's later events; ``consent`` says whether the
  person granted ``advertising``; ``ip_override`` and ``device`` describe the device, not ours.

One request holds one device's events (≤ 25, < 130 kB). GA4's collect answers 2xx to anything,
so each request is checked with ``ga4.problems`` before it leaves: what GA4 would drop is
refused here, with the reason, instead of vanishing there. GA4 has no dedup key: the runner's
ledger keeps a replay from counting an event twice. ``X-CDP-Message-Ids`` names the events a
request carries (GA4 ignores it; stand-ins and logs read it).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
)
from shared.tiering import ga4

MESSAGE_IDS_HEADER = "X-CDP-Message-Ids"
APP_PLATFORMS = ("ios", "android")
_OS_PLATFORMS = {"ios": "ios", "ipados": "ios", "iphone os": "ios", "android": "android"}
_LIBRARY_PLATFORMS = {"analytics-ios": "ios", "analytics-swift": "ios",
                      "analytics-android": "android", "analytics-kotlin": "android"}  # fmt: skip

NO_CLIENT_ID = "no client_id: a web event needs the GA client id or an anonymousId"
NO_APP_INSTANCE_ID = (
    "no app_instance_id: an app event needs integrations.Firebase.appInstanceId or "
    "context.externalIds type app_instance_id (32 hex digits, from the Firebase SDK)"
)
NO_WEB_STREAM = "web event, but CDP_FIREBASE_MEASUREMENT_ID is not set"
NO_APP_STREAM = "{platform} event, but CDP_FIREBASE_APP_ID has no app for {platform}"
NO_GA4_FORM = "a {kind} call has no GA4 event"
TOO_OLD = "older than GA4's 72-hour backdating window"
VIOLATION = "GA4 would drop it: {problems}"


class FirebaseSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_FIREBASE_", extra="ignore")

    endpoint: str = "https://www.google-analytics.com"
    api_secret: str = Field(default="", repr=False)
    measurement_id: str = ""  # web stream, G-XXXXXXX
    app_id: str = ""  # one Firebase app id, or {"ios": ..., "android": ...}

    @field_validator("app_id")
    @classmethod
    def _app_ids(cls, value: str) -> str:
        if value.strip().startswith("{"):
            parsed = json.loads(value)
            if not isinstance(parsed, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
            ):
                raise ValueError('CDP_FIREBASE_APP_ID: {"ios": "1:…", "android": "1:…"} expected')
        return value

    def app_for(self, platform: str) -> str:
        """The Firebase app id for ``platform`` ("" when none is set for it)."""
        text = self.app_id.strip()
        if not text.startswith("{"):
            return text
        return str(json.loads(text).get(platform, ""))


def platform_of(event: Event) -> str:
    """ios, android or web: where the event was sent from, as the SDK or the app said."""
    context = event.get("context") or {}
    properties = event.get("properties") or {}
    device, os, library = (context.get(k) or {} for k in ("device", "os", "library"))
    candidates = (
        str(device.get("type") or "").lower(),
        _OS_PLATFORMS.get(str(os.get("name") or "").lower(), ""),
        str(properties.get("platform") or "").lower(),
        _LIBRARY_PLATFORMS.get(str(library.get("name") or "").lower(), ""),
    )
    return next((c for c in candidates if c in APP_PLATFORMS), "web")


def device_of(event: Event) -> dict[str, str]:
    """GA4's ``device`` from the Segment context (otherwise GA4 describes our server)."""
    context = event.get("context") or {}
    device, os, screen = (context.get(k) or {} for k in ("device", "os", "screen"))
    found = {
        "category": "mobile" if str(device.get("type") or "").lower() in APP_PLATFORMS else "",
        "language": context.get("locale"),
        "operating_system": os.get("name"),
        "operating_system_version": os.get("version"),
        "model": device.get("model"),
        "brand": device.get("manufacturer"),
    }
    width, height = screen.get("width"), screen.get("height")
    if isinstance(width, int) and isinstance(height, int):
        found["screen_resolution"] = f"{width}x{height}"
    return {k: v[:100] for k, v in found.items() if isinstance(v, str) and v}


def ip_of(event: Event) -> str | None:
    value = (event.get("context") or {}).get("ip")
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def head_of(event: Event, person: Person, device_field: str, device_id: str) -> dict[str, Any]:
    """The request-level fields: who and which device (the same for every event it carries)."""
    head: dict[str, Any] = {device_field: device_id}
    user_id = ga4.user_id_of(event)
    if user_id:
        head["user_id"] = user_id
    properties = ga4.user_properties_of(person.traits)
    if properties:
        head["user_properties"] = properties
    advertising = person.consent.get("advertising")
    if isinstance(advertising, bool):
        granted = "GRANTED" if advertising else "DENIED"
        head["consent"] = {"ad_user_data": granted, "ad_personalization": granted}
    ip = ip_of(event)
    if ip:
        head["ip_override"] = ip
    device = device_of(event)
    if device:
        head["device"] = device
    return head


Item = tuple[str, dict[str, Any]]  # (messageId, GA4 event)


def fit(head: dict[str, Any], items: list[Item]) -> list[tuple[dict[str, Any], list[str]]]:
    """Payloads of ≤ 25 events and < 130 kB, each with the messageIds it carries, in order."""
    if len(items) > ga4.MAX_EVENTS:
        cut = ga4.MAX_EVENTS
        return fit(head, items[:cut]) + fit(head, items[cut:])
    payload = {**head, "events": [mapped for _, mapped in items]}
    if len(items) > 1 and len(ga4.body(payload)) >= ga4.MAX_BODY_BYTES:
        half = len(items) // 2
        return fit(head, items[:half]) + fit(head, items[half:])
    return [(payload, [mid for mid, _ in items])]


class FirebaseTransform(Transform):
    name: ClassVar[str] = "firebase"
    settings_class: ClassVar[type[DestinationSettings]] = FirebaseSettings
    event_types: ClassVar[tuple[str, ...]] = ("track", "page", "screen", "group")
    consent_category: ClassVar[str] = "analytics"
    provider_dedup: ClassVar[bool] = False

    @property
    def _settings(self) -> FirebaseSettings:
        return cast(FirebaseSettings, self.settings)

    def missing(self) -> list[str]:
        s, found = self._settings, []
        if not s.api_secret:
            found.append("CDP_FIREBASE_API_SECRET")
        if not s.measurement_id and not s.app_id:
            found.append("CDP_FIREBASE_MEASUREMENT_ID or CDP_FIREBASE_APP_ID")
        return found

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        now = self.clock.now()
        out = Prepared()
        groups: dict[tuple[str, bytes], tuple[dict[str, Any], list[Item]]] = {}
        for event, person in zip(events, people, strict=True):
            mid = str(event.get("messageId") or "")
            target = self._target(event, person)
            if isinstance(target, str):
                out.skipped[mid] = target
                continue
            mapped = ga4.to_ga4_event(event, now)
            if mapped is None:
                # too old for GA4 (a back-fill, an import) is not a failure: the warehouse has it
                no_form = ga4.event_name(event) is None
                out.skipped[mid] = (
                    NO_GA4_FORM.format(kind=event.get("type")) if no_form else TOO_OLD
                )
                continue
            url, head = target
            groups.setdefault((url, ga4.body(head)), (head, []))[1].append((mid, mapped))
        for (url, _), (head, items) in groups.items():
            for payload, ids in fit(head, items):
                found = self.problems(payload)
                if found:
                    out.refused.update(
                        dict.fromkeys(ids, VIOLATION.format(problems="; ".join(found)))
                    )
                else:
                    out.requests.append(self._request(url, payload, ids))
        return out

    @staticmethod
    def problems(payload: dict[str, Any]) -> list[str]:
        """The cold path's checks of the events, and of who they are for."""
        as_web = {
            **payload,
            "client_id": payload.get("client_id") or payload.get("app_instance_id"),
        }
        return ga4.problems(as_web) + ga4.identity_problems(payload)

    def _target(self, event: Event, person: Person) -> tuple[str, dict[str, Any]] | str:
        """The collect URL and request head for ``event``, or why it has none."""
        s = self._settings
        platform = platform_of(event)
        if platform in APP_PLATFORMS:
            app_id = s.app_for(platform)
            if not app_id:
                return NO_APP_STREAM.format(platform=platform)
            instance = ga4.app_instance_id_of(event)
            if instance is None:
                return NO_APP_INSTANCE_ID
            query = {"firebase_app_id": app_id, "api_secret": s.api_secret}
            return self._url(query), head_of(event, person, "app_instance_id", instance)
        if not s.measurement_id:
            return NO_WEB_STREAM
        client = ga4.client_id_of(event)
        if client is None:
            return NO_CLIENT_ID
        query = {"measurement_id": s.measurement_id, "api_secret": s.api_secret}
        return self._url(query), head_of(event, person, "client_id", client)

    def _url(self, query: dict[str, str]) -> str:
        return f"{self._settings.endpoint.rstrip('/')}/mp/collect?{urlencode(query)}"

    @staticmethod
    def _request(url: str, payload: dict[str, Any], ids: list[str]) -> Request:
        headers = {
            "Content-Type": "application/json",
            MESSAGE_IDS_HEADER: json.dumps(ids, separators=(",", ":")),
        }
        return Request("POST", url, headers, ga4.body(payload), tuple(ids))
