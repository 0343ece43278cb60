"""Meta Conversions API: Segment tracks (and pages) → server events for one pixel (dataset).

``POST {endpoint}/{api_version}/{pixel_id}/events?access_token=...`` with ``{"data": [...]}``,
at most 1,000 events per request; Meta refuses the whole request when one event is invalid, so
every rule it documents is applied here first and an event that breaks one is refused alone
(``Prepared.refused``), never sent. The rules:

- ``event_id`` is the messageId: Meta dedupes it with the browser pixel's eventID (48 h).
- ``event_time`` in seconds, never more than 7 days old (Meta refuses the request), never in
  the future (clamped to now).
- ``action_source`` from where the event came from: ``website`` (a browser library), ``app``
  (a mobile library or an iOS/Android device), ``system_generated`` (the audiences job's
  events: a membership computed here, no act of the person's), else ``other`` (a server, which
  cannot say); ``properties.action_source`` overrides it with any value Meta allows.
- ``Audience Entered`` / ``Audience Exited`` are custom events named with their audience
  (``Audience Entered direct_deposit``), so each audience is its own event in Events Manager;
  the audience's properties (``audience_key``, ``audience_name``, ``high_value``, carried
  traits) are custom properties in ``custom_data``.
- website events need ``event_source_url`` and ``client_user_agent``; app events ``app_data``
  (``advertiser_tracking_enabled``, ``extinfo``); Purchase a numeric ``value`` and a
  ``currency``; every event one matching key in ``user_data``.
- contact fields are normalised as Meta documents, then SHA-256 hashed; ``client_ip_address``,
  ``client_user_agent``, ``fbc``, ``fbp``, ``madid`` and ``anon_id`` are sent as they are.
- ``custom_data`` never carries personal data (Meta's terms): PII-named keys and values that
  contain an email address are dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.destinations.delivery import Outcome
from shared.destinations.filters import AUDIENCE_EVENTS, audience_key
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
from shared.destinations.meta_data import app_data, custom_data, has_match_key, platform, user_data
from shared.destinations.meta_data import sha256 as sha256
from shared.ports.http import HttpResponse
from shared.tiering.ga4 import event_time

MAX_EVENTS = 1000
WINDOW = timedelta(days=7) - timedelta(minutes=10)  # margin for the request's own flight
MAX_CUSTOM_NAME = 40  # the stricter of the pixel's (50) and app events' (40) limits
ACTION_SOURCES = frozenset({"email", "website", "app", "phone_call", "chat", "physical_store",
                            "system_generated", "business_messaging", "other"})  # fmt: skip
STANDARD_EVENTS = {  # Segment's e-commerce spec → Meta's standard events
    "Products Searched": "Search",
    "Product Viewed": "ViewContent",
    "Product Added": "AddToCart",
    "Product Added to Wishlist": "AddToWishlist",
    "Checkout Started": "InitiateCheckout",
    "Payment Info Entered": "AddPaymentInfo",
    "Order Completed": "Purchase",
    "Signed Up": "CompleteRegistration",
    "Lead Generated": "Lead",
    "Trial Started": "StartTrial",
    "Subscription Started": "Subscribe",
}
WEB_LIBRARIES = ("analytics.js", "analytics-next", "@segment/analytics-next")
AUDIENCES_LIBRARY = "cdp-audiences"  # the audiences job's events: computed, not a person's act
MOBILE_LIBRARIES = ("analytics-ios", "analytics-android", "analytics-react-native",
                    "analytics-swift", "analytics-kotlin", "analytics_flutter")  # fmt: skip
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80004})  # unknown, unavailable, rate limits
CONFIG_CODES = frozenset({10, 102, 190}) | frozenset(range(200, 300))  # token or permission
_NAME = re.compile(r"[^0-9A-Za-z _-]+")

TOO_OLD = "event_time is more than 7 days old: Meta refuses it"
NO_TIME = "no valid timestamp"
NO_NAME = "no event name Meta can take"
LONG_AUDIENCE = "'{name}' is over Meta's 40 characters for a custom event: shorten the audience key"
WEB_NEEDS = "a website event needs context.page.url and context.userAgent (Meta requires both)"
PURCHASE_NEEDS = "a Purchase needs a numeric value (value, revenue or total) and a currency"
NO_MATCH_KEY = "no customer information Meta can match (email, phone, userId, ip+agent, fbp...)"


class MetaSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_META_", extra="ignore")

    endpoint: str = "https://graph.facebook.com"
    pixel_id: str = ""
    access_token: str = Field(default="", repr=False)
    api_version: str = "v25.0"
    test_event_code: str = ""  # set: Events Manager shows the events under Test Events only


def action_source(event: Event) -> str:
    """Where the conversion happened, as far as the event can tell (see the module's doc)."""
    chosen = (event.get("properties") or {}).get("action_source")
    if isinstance(chosen, str) and chosen in ACTION_SOURCES:
        return chosen
    context = event.get("context") or {}
    library = str((context.get("library") or {}).get("name") or "")
    if library == AUDIENCES_LIBRARY:
        return "system_generated"
    if library.startswith(MOBILE_LIBRARIES) or platform(event):
        return "app" if platform(event) else "other"
    if library.startswith(WEB_LIBRARIES):
        return "website"
    return "other"


def event_name(event: Event) -> str:
    """Standard events for Segment's spec names; any other name as a valid custom event name
    (letters, digits, space, ``_`` and ``-``, at most 40), e.g. ``Audience Entered``."""
    if event.get("type") == "page":
        return "PageView"
    key = audience_key(event) if event.get("event") in AUDIENCE_EVENTS else None
    if key is not None:
        return audience_event_name(str(event["event"]), key)
    raw = str(event.get("event") or "").strip()
    if raw in STANDARD_EVENTS:
        return STANDARD_EVENTS[raw]
    return _NAME.sub("_", raw).strip(" ")[:MAX_CUSTOM_NAME].strip(" ")


def audience_event_name(name: str, key: str) -> str:
    """``Audience Entered <key>``: a custom event name, whole or "" (a cut name could be
    another audience's)."""
    found = _NAME.sub("_", f"{name} {key}").strip(" ")
    return found if len(found) <= MAX_CUSTOM_NAME else ""


def server_event(event: Event, person: Person, now: datetime) -> dict[str, Any] | str:
    """One event for ``data``, or why Meta would refuse it."""
    when = event_time(event)
    if when is None:
        return NO_TIME
    if now - when > WINDOW:
        return TOO_OLD
    name = event_name(event)
    if not name:
        key = audience_key(event) if event.get("event") in AUDIENCE_EVENTS else None
        return LONG_AUDIENCE.format(name=f"{event['event']} {key}") if key else NO_NAME
    source = action_source(event)
    context = event.get("context") or {}
    url = (context.get("page") or {}).get("url") or (event.get("properties") or {}).get("url")
    found: dict[str, Any] = {
        "event_name": name,
        "event_time": int(min(when, now).timestamp()),
        "event_id": str(event["messageId"]),
        "action_source": source,
        "user_data": user_data(event, person, source),
        "custom_data": custom_data(event),
    }
    if isinstance(url, str) and url:
        found["event_source_url"] = url
    if source == "website" and not (url and found["user_data"].get("client_user_agent")):
        return WEB_NEEDS
    if source == "app":
        found["app_data"] = app_data(event)
    money = found["custom_data"]
    if name == "Purchase" and not ("value" in money and isinstance(money.get("currency"), str)):
        return PURCHASE_NEEDS
    return found if has_match_key(found["user_data"]) else NO_MATCH_KEY


class MetaTransform(Transform):
    name = "meta"
    settings_class = MetaSettings
    event_types = ("track",)
    consent_category = "advertising"
    provider_dedup = True  # event_id

    @property
    def _settings(self) -> MetaSettings:
        return cast(MetaSettings, self.settings)  # the registry pairs them

    def missing(self) -> list[str]:
        s = self._settings
        return [f"CDP_META_{n.upper()}" for n in ("pixel_id", "access_token") if not getattr(s, n)]

    def url(self) -> str:
        s = self._settings
        path = f"{s.endpoint.rstrip('/')}/{s.api_version}/{quote(s.pixel_id)}/events"
        return f"{path}?access_token={quote(s.access_token, safe='')}"

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        prepared, ready = Prepared(), []
        now = self.clock.now()
        for event, person in zip(events, people, strict=True):
            found = server_event(event, person, now)
            if isinstance(found, str):
                prepared.refused[str(event["messageId"])] = found
            else:
                ready.append(found)
        for start in range(0, len(ready), MAX_EVENTS):
            chunk = ready[start : start + MAX_EVENTS]
            body: dict[str, Any] = {"data": chunk}
            if self._settings.test_event_code:
                body["test_event_code"] = self._settings.test_event_code
            headers = {"Content-Type": "application/json"}
            raw = json.dumps(body, separators=(",", ":")).encode()
            ids = tuple(e["event_id"] for e in chunk)
            prepared.requests.append(Request("POST", self.url(), headers, raw, ids))
        return prepared

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        return meta_verdict(response)


def meta_verdict(response: HttpResponse) -> Verdict:
    """Meta's Graph error body decides: transient and throttling codes retry, invalid
    parameters and token or permission errors (a configuration problem) do not."""
    found = default_verdict(response)
    try:
        error = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return found
    if found.outcome is Outcome.SENT or not isinstance(error, dict):
        return found
    code = error.get("code")
    detail = error.get("error_user_msg") or error.get("message") or ""
    subcode, trace = error.get("error_subcode"), error.get("fbtrace_id")
    reason = f"Meta error {code}/{subcode}: {detail} (fbtrace {trace})"
    if error.get("is_transient") is True or code in RETRY_CODES:
        return Verdict(Outcome.RETRY, reason, retry_after_seconds=found.retry_after_seconds)
    if code in CONFIG_CODES:
        reason = f"configuration: check CDP_META_ACCESS_TOKEN and CDP_META_PIXEL_ID; {reason}"
    return Verdict(Outcome.PERMANENT, reason)
