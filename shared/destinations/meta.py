"""Meta Conversions API: Segment tracks (and pages) → server events for one pixel (dataset).

``POST {endpoint}/{api_version}/{pixel_id}/events?access_token=...`` with ``{"data": [...]}``,
at most 1,000 events per request; Meta refuses the whole request when one event is invalid, so
every rule it documents is applied here first and an event that breaks one is refused alone
(``Prepared.refused``), never sent. The rules:

- ``event_id`` is the messageId: Meta dedupes it with the browser pixel's eventID (48 h).
- ``event_time`` in seconds, never more than 7 days old (Meta refuses the request), never in
  the future (clamped to now).
- ``action_source`` from where the event came from: ``website`` (a browser library), ``app``
  (a mobile library or an iOS/Android device), else ``other`` (a server, which cannot say);
  ``properties.action_source`` overrides it with any value Meta allows.
- website events need ``event_source_url`` and ``client_user_agent``; app events ``app_data``
  (``advertiser_tracking_enabled``, ``extinfo``); Purchase a numeric ``value`` and a
  ``currency``; every event one matching key in ``user_data``.
- contact fields are normalised as Meta documents, then SHA-256 hashed; ``client_ip_address``,
  ``client_user_agent``, ``fbc``, ``fbp``, ``madid`` and ``anon_id`` are sent as they are.
- ``custom_data`` never carries personal data (Meta's terms): PII-named keys and values that
  contain an email address are dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
MOBILE_LIBRARIES = ("analytics-ios", "analytics-android", "analytics-react-native",
                    "analytics-swift", "analytics-kotlin", "analytics_flutter")  # fmt: skip
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80004})  # unknown, unavailable, rate limits
CONFIG_CODES = frozenset({10, 102, 190}) | frozenset(range(200, 300))  # token or permission
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"[^0-9A-Za-z _-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PII_KEYS = frozenset({"email", "phone", "name", "firstname", "lastname", "address", "street",
                       "birthday", "ssn", "ip", "username", "nationalid"})  # fmt: skip
_CONSUMED = frozenset({"action_source", "fbc", "fbp", "url", "revenue", "total", "products",
                       "product_id", "sku", "query", "quantity", "price", "category"})  # fmt: skip

TOO_OLD = "event_time is more than 7 days old: Meta refuses it"
NO_TIME = "no valid timestamp"
NO_NAME = "no event name Meta can take"
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


def sha256(value: str) -> str:
    """Meta matches on the hash of the normalised value; a value already hashed stays."""
    return value if _HEX64.match(value) else hashlib.sha256(value.encode()).hexdigest()


def _letters(value: str, keep: str = "") -> str:
    """Lower case without punctuation, symbols or spaces (accented letters stay, UTF-8)."""
    return "".join(c for c in value.strip().lower() if c.isalnum() or c in keep)


def _name(value: str) -> str:
    text = value.strip().lower()
    return "".join(c for c in text if not unicodedata.category(c).startswith(("P", "S")))


def _phone(value: str) -> str:
    """Digits only, no leading zeros (``00`` international prefix included); a number without
    its country code cannot be completed here and matches nobody at Meta."""
    return re.sub(r"\D", "", value).lstrip("0")


def _zip(value: str, country: str) -> str:
    text = re.sub(r"[\s-]", "", value.strip().lower())
    return text[:5] if country == "us" else text


def _gender(value: str) -> str:
    text = value.strip().lower()
    return text[0] if text[:1] in ("f", "m") else ""


def _birthday(value: str) -> str:
    digits = re.sub(r"\D", "", value)[:8]
    return digits if len(digits) == 8 else ""


def _trait(traits: Sequence[Mapping[str, Any]], *names: str) -> str:
    for source in traits:
        for name in names:
            value = source.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value)
    return ""


def user_data(event: Event, person: Person, source: str) -> dict[str, Any]:
    """Customer information: the event's own traits first, then the profile's."""
    context = event.get("context") or {}
    found = [event.get("traits") or {}, context.get("traits") or {}, person.traits]
    traits = [t for t in found if isinstance(t, Mapping)]
    addresses = [t["address"] for t in traits if isinstance(t.get("address"), Mapping)]
    country = _letters(_trait(addresses + traits, "country"))
    country = country if len(country) == 2 else ""
    fields = {
        "em": _trait(traits, "email").strip().lower(),
        "ph": _phone(_trait(traits, "phone")),
        "fn": _name(_trait(traits, "firstName", "first_name")),
        "ln": _name(_trait(traits, "lastName", "last_name")),
        "ge": _gender(_trait(traits, "gender")),
        "db": _birthday(_trait(traits, "birthday")),
        "ct": _letters(_trait(addresses + traits, "city")),
        "st": _letters(_trait(addresses + traits, "state")),
        "zp": _zip(_trait(addresses + traits, "postalCode", "postal_code", "zip"), country),
        "country": country,
        "external_id": str(event.get("userId") or "").strip(),
    }
    data: dict[str, Any] = {key: sha256(value) for key, value in fields.items() if value}
    properties = event.get("properties") or {}
    device = context.get("device") or {}
    plain = {
        "client_ip_address": context.get("ip"),
        "client_user_agent": context.get("userAgent"),
        "fbc": properties.get("fbc"),
        "fbp": properties.get("fbp"),
    }
    if source == "app":
        if device.get("adTrackingEnabled") is not False:
            plain["madid"] = device.get("advertisingId")
        plain["anon_id"] = event.get("anonymousId")
    data.update({k: v for k, v in plain.items() if isinstance(v, str) and v})
    return data


def has_match_key(data: Mapping[str, Any]) -> bool:
    """Meta's minimum: one identifier, or the IP and user agent together."""
    alone = ("em", "ph", "external_id", "fbc", "fbp", "madid", "anon_id")
    both = "client_ip_address" in data and "client_user_agent" in data
    return both or any(key in data for key in alone)


def _platform(event: Event) -> str:
    context = event.get("context") or {}
    names = [(context.get("os") or {}).get("name"), (context.get("device") or {}).get("type"),
             (event.get("properties") or {}).get("platform")]  # fmt: skip
    for name in (str(n).lower() for n in names if isinstance(n, str)):
        if name in ("ios", "ipados", "android"):
            return "android" if name == "android" else "ios"
    return ""


def action_source(event: Event) -> str:
    """Where the conversion happened, as far as the event can tell (see the module's doc)."""
    chosen = (event.get("properties") or {}).get("action_source")
    if isinstance(chosen, str) and chosen in ACTION_SOURCES:
        return chosen
    context = event.get("context") or {}
    library = str((context.get("library") or {}).get("name") or "")
    if library.startswith(MOBILE_LIBRARIES) or _platform(event):
        return "app" if _platform(event) else "other"
    if library.startswith(WEB_LIBRARIES):
        return "website"
    return "other"


def event_name(event: Event) -> str:
    """Standard events for Segment's spec names; any other name as a valid custom event name
    (letters, digits, space, ``_`` and ``-``, at most 40), e.g. ``Audience Entered``."""
    if event.get("type") == "page":
        return "PageView"
    raw = str(event.get("event") or "").strip()
    if raw in STANDARD_EVENTS:
        return STANDARD_EVENTS[raw]
    return _NAME.sub("_", raw).strip(" ")[:MAX_CUSTOM_NAME].strip(" ")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _personal(key: str, value: Any) -> bool:
    flat = key.lower().replace("_", "").replace("-", "")
    return flat in _PII_KEYS or (isinstance(value, str) and bool(_EMAIL.search(value)))


def custom_data(event: Event) -> dict[str, Any]:
    """Meta's standard custom_data from Segment's spec properties, then the other scalar
    properties as custom properties, personal data left out."""
    props = event.get("properties") or {}
    data: dict[str, Any] = {}
    value = next((v for k in ("value", "revenue", "total") if (v := _number(props.get(k)))
                  is not None), None)  # fmt: skip
    if value is not None:
        data["value"] = value
    own = props.get("product_id") or props.get("sku")
    listed = [p for p in props.get("products") or [] if isinstance(p, Mapping)]
    products = listed or ([props] if own else [])
    ids = [str(p.get("product_id") or p.get("sku") or "") for p in products]
    if any(ids):
        data["content_ids"] = [i for i in ids if i]
        data["content_type"] = "product"
        data["contents"] = [
            {"id": i, "quantity": int(_number(p.get("quantity")) or 1)}
            | ({"item_price": price} if (price := _number(p.get("price"))) is not None else {})
            for i, p in zip(ids, products, strict=True)
            if i
        ]
        data["num_items"] = sum(c["quantity"] for c in data["contents"])
    if own:  # one product: its name and category are the content's
        data.update({f"content_{k}": props[k] for k in ("name", "category") if props.get(k)})
    if isinstance(props.get("query"), str):
        data["search_string"] = props["query"]
    for key, item in props.items():
        scalar = isinstance(item, str | int | float | bool)
        if key in data or key in _CONSUMED or not scalar or _personal(key, item):
            continue
        data[key] = item
    return data


def _app_data(event: Event) -> dict[str, Any]:
    """``extinfo``: Meta's 16 device values, in its order, empty where Segment has none."""
    context = event.get("context") or {}
    app, os_, device = (context.get(k) or {} for k in ("app", "os", "device"))
    screen, network = context.get("screen") or {}, context.get("network") or {}
    values = ["i2" if _platform(event) == "ios" else "a2", app.get("namespace"),
              app.get("version"), app.get("build"), os_.get("version"), device.get("model"),
              context.get("locale"), "", network.get("carrier"), screen.get("width"),
              screen.get("height"), screen.get("density"), "", "", "",
              context.get("timezone")]  # fmt: skip
    return {
        "advertiser_tracking_enabled": 1 if device.get("adTrackingEnabled") is True else 0,
        "application_tracking_enabled": 1,
        "extinfo": ["" if v is None else str(v) for v in values],
    }


def server_event(event: Event, person: Person, now: datetime) -> dict[str, Any] | str:
    """One event for ``data``, or why Meta would refuse it."""
    when = event_time(event)
    if when is None:
        return NO_TIME
    if now - when > WINDOW:
        return TOO_OLD
    name = event_name(event)
    if not name:
        return NO_NAME
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
        found["app_data"] = _app_data(event)
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
