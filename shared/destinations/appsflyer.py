"""AppsFlyer server-to-server in-app events: one Segment track → one ``POST
{endpoint}/inappevent/{app_id}`` with the dev key in the ``authentication`` header.

AppsFlyer's S2S API takes one event per call, a JSON body of at most 1 KB, and records an event
only for a device it knows: ``appsflyer_id`` (from ``context.externalIds`` of type
``appsflyer_id``, or the ``appsflyer_id`` trait of the event or the person). Events without one
are skipped (counted, not failed), as are events whose platform has no app id.

The app: ``CDP_APPSFLYER_APP_ID`` is one id or ``{"ios": ..., "android": ...}``. An event's
platform is ``context.os.name``, else ``context.device.type``, else ``properties.platform``
(``ios``/``iPadOS`` → ios, ``android`` → android). With one id, every event goes to it (its
platform is the event's, else the app's: an App Store id is digits); with a map, the event's
platform chooses and an event with none goes to the only entry, if there is only one. App Store
ids carry the ``id`` prefix (AppsFlyer answers 200 to ``/inappevent/123`` and records nothing).

``eventValue`` is the properties as a JSON string (Segment's e-commerce names become AppsFlyer's
``af_`` parameters), values ≤ 1,000 characters, no personal data; custom properties are left out,
largest first, until the body fits 1 KB. ``eventTime`` is ``yyyy-MM-dd HH:mm:ss.SSS`` in UTC.
AppsFlyer has no dedup key: the runner's ledger keeps a replay from sending an event twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.destinations.delivery import Outcome
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
    Verdict,
    default_verdict,
)
from shared.ports.http import HttpResponse
from shared.tiering.ga4 import event_time

MAX_BODY_BYTES = 1024
MAX_NAME = 45  # the support article's limit (the SDK guide allows 100)
MAX_VALUE = 1000
MESSAGE_HEADER = "X-CDP-Message-Id"  # ours, for tracing: AppsFlyer ignores it
PREDEFINED = {  # Segment's spec → AppsFlyer's predefined events
    "Order Completed": "af_purchase",
    "Product Viewed": "af_content_view",
    "Product Added": "af_add_to_cart",
    "Product Added to Wishlist": "af_add_to_wishlist",
    "Checkout Started": "af_initiated_checkout",
    "Payment Info Entered": "af_add_payment_info",
    "Products Searched": "af_search",
    "Signed Up": "af_complete_registration",
    "Signed In": "af_login",
    "Subscription Started": "af_subscribe",
}
PARAMETERS = {  # Segment property → AppsFlyer predefined parameter
    "revenue": "af_revenue",
    "total": "af_revenue",
    "value": "af_revenue",
    "price": "af_price",
    "currency": "af_currency",
    "order_id": "af_order_id",
    "product_id": "af_content_id",
    "sku": "af_content_id",
    "category": "af_content_type",
    "quantity": "af_quantity",
    "query": "af_search_string",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PII_KEYS = frozenset({"email", "phone", "name", "firstname", "lastname", "address", "street",
                       "birthday", "ssn", "ip", "username", "nationalid",
                       "appsflyerid"})  # fmt: skip

NO_APPSFLYER_ID = "no appsflyer_id (context.externalIds or trait)"
NO_APP_ID = "no CDP_APPSFLYER_APP_ID for this event's platform ({platform})"
NO_NAME = "no event name"
TOO_LARGE = "over AppsFlyer's 1 KB body even without properties"
BAD_KEY = "AppsFlyer refused the dev key (401): a configuration error, check CDP_APPSFLYER_DEV_KEY"


class AppsFlyerSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_APPSFLYER_", extra="ignore")

    endpoint: str = "https://api2.appsflyer.com"
    dev_key: str = Field(default="", repr=False)
    app_id: str = ""  # one id, or a JSON object by platform: {"ios": "id123", "android": "com.x"}


def app_ids(setting: str) -> dict[str, str]:
    """The setting by platform (``""``: one id for every platform), App Store ids prefixed."""
    text = setting.strip()
    found: Any = json.loads(text) if text.startswith("{") else {"": text} if text else {}
    return {str(k).lower(): _prefixed(str(v)) for k, v in found.items() if v}


def _prefixed(app_id: str) -> str:
    return f"id{app_id}" if app_id.isdigit() else app_id


def platform_of(event: Event) -> str | None:
    context = event.get("context") or {}
    names = [(context.get("os") or {}).get("name"), (context.get("device") or {}).get("type"),
             (event.get("properties") or {}).get("platform")]  # fmt: skip
    for name in (n.lower() for n in names if isinstance(n, str)):
        if name in ("ios", "ipados", "android"):
            return "android" if name == "android" else "ios"
    return None


def choose_app(event: Event, ids: Mapping[str, str]) -> tuple[str, str] | str:
    """(app id, platform) for an event, or why it has none (see the module's docstring)."""
    platform = platform_of(event)
    if "" in ids:
        app = ids[""]
        return app, platform or ("ios" if app.startswith("id") and app[2:].isdigit() else "android")
    if platform is not None and platform in ids:
        return ids[platform], platform
    if platform is None and len(ids) == 1:
        [(only, app)] = ids.items()
        return app, only
    return NO_APP_ID.format(platform=platform or "unknown")


def appsflyer_id_of(event: Event, person: Person) -> str | None:
    context = event.get("context") or {}
    for item in context.get("externalIds") or []:
        if isinstance(item, Mapping) and item.get("type") == "appsflyer_id" and item.get("id"):
            return str(item["id"])
    for traits in (event.get("traits"), context.get("traits"), person.traits):
        if isinstance(traits, Mapping) and traits.get("appsflyer_id"):
            return str(traits["appsflyer_id"])
    return None


def event_name(event: Event) -> str:
    raw = str(event.get("event") or "").strip()
    return PREDEFINED.get(raw) or raw[:MAX_NAME]


def _personal(key: str, value: Any) -> bool:
    flat = key.lower().replace("_", "").replace("-", "")
    return flat in _PII_KEYS or (isinstance(value, str) and bool(_EMAIL.search(value)))


def _text(value: Any) -> str:
    """AppsFlyer's values: plain text, numbers without formatting, ≤ 1,000 characters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)[:MAX_VALUE]


def event_value(properties: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(predefined ``af_`` parameters, custom ones) from scalar, non-personal properties."""
    predefined: dict[str, str] = {}
    custom: dict[str, str] = {}
    for key, value in properties.items():
        if not isinstance(value, str | int | float | bool) or _personal(key, value):
            continue
        name = PARAMETERS.get(key)
        if name is not None:
            predefined.setdefault(name, _text(value))
        elif key != "platform":
            custom[key] = _text(value)
    return predefined, custom


def _time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def _devices(event: Event, platform: str) -> dict[str, str]:
    """Advertising ids by platform (not when the user limited ad tracking), IDFV, OS, app."""
    context = event.get("context") or {}
    device, app = context.get("device") or {}, context.get("app") or {}
    found: dict[str, Any] = {"ip": context.get("ip"), "app_version_name": app.get("version")}
    advertising = (
        device.get("advertisingId") if device.get("adTrackingEnabled") is not False else None
    )
    if platform == "ios":
        found |= {"idfa": advertising, "idfv": device.get("id"),
                  "os": (context.get("os") or {}).get("version"),
                  "bundleIdentifier": app.get("namespace")}  # fmt: skip
    else:
        found["advertising_id"] = advertising
    return {k: str(v) for k, v in found.items() if isinstance(v, str | int) and str(v)}


def s2s_body(event: Event, appsflyer_id: str, platform: str, now: datetime) -> bytes | str:
    """The JSON body for one event, within 1 KB, or why there is none."""
    name = event_name(event)
    if not name:
        return NO_NAME
    when = min(event_time(event) or now, now)
    body: dict[str, Any] = {"appsflyer_id": appsflyer_id, "eventName": name,
                            "eventTime": _time(when), "af_events_api": "true"}  # fmt: skip
    user = event.get("userId")
    if isinstance(user, str | int) and str(user) and not _personal("", str(user)):
        body["customer_user_id"] = str(user)
    body |= _devices(event, platform)
    predefined, custom = event_value(event.get("properties") or {})
    if "af_currency" in predefined:
        body["eventCurrency"] = predefined["af_currency"]
    kept = sorted(custom, key=lambda k: len(k) + len(custom[k]))
    while True:
        value = predefined | {k: custom[k] for k in kept}
        body["eventValue"] = json.dumps(value, separators=(",", ":")) if value else ""
        raw = json.dumps(body, separators=(",", ":")).encode()
        if len(raw) <= MAX_BODY_BYTES:
            return raw
        if not kept:
            return TOO_LARGE
        kept.pop()  # the largest custom property first


class AppsFlyerTransform(Transform):
    name = "appsflyer"
    settings_class = AppsFlyerSettings
    event_types = ("track",)
    consent_category = "advertising"
    provider_dedup = False  # no dedup key: the runner's ledger

    @property
    def _settings(self) -> AppsFlyerSettings:
        return cast(AppsFlyerSettings, self.settings)  # the registry pairs them

    def missing(self) -> list[str]:
        s = self._settings
        return [f"CDP_APPSFLYER_{n.upper()}" for n in ("dev_key", "app_id") if not getattr(s, n)]

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        prepared = Prepared()
        ids, now = app_ids(self._settings.app_id), self.clock.now()
        base = self._settings.endpoint.rstrip("/")
        for event, person in zip(events, people, strict=True):
            message_id = str(event["messageId"])
            appsflyer_id = appsflyer_id_of(event, person)
            app = choose_app(event, ids)
            if appsflyer_id is None or isinstance(app, str):
                prepared.skipped[message_id] = NO_APPSFLYER_ID if appsflyer_id is None else str(app)
                continue
            body = s2s_body(event, appsflyer_id, app[1], now)
            if isinstance(body, str):
                prepared.refused[message_id] = body
                continue
            key = self._settings.dev_key
            headers = {"Content-Type": "application/json", "authentication": key,
                       MESSAGE_HEADER: message_id}  # fmt: skip
            url = f"{base}/inappevent/{quote(app[0], safe='')}"
            prepared.requests.append(Request("POST", url, headers, body, (message_id,)))
        return prepared

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        """200 ok; 400 a malformed event (permanent); 401 a wrong dev key (permanent, and the
        operator's to fix); 429 and 5xx retry."""
        if response.status == 401:
            return Verdict(Outcome.PERMANENT, BAD_KEY)
        return default_verdict(response)
