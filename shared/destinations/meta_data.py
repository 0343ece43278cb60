"""What Meta's Conversions API reads about a person and an event: ``user_data`` (contact
fields normalised as Meta documents them, then SHA-256 hashed; device and click ids as they
are), ``custom_data`` (Segment's spec properties as Meta's standard parameters, the other scalar
properties as custom properties, personal data left out) and ``app_data`` for app events."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from shared.destinations.framework import Event, Person

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PII_KEYS = frozenset({"email", "phone", "name", "firstname", "lastname", "address", "street",
                       "birthday", "ssn", "ip", "username", "nationalid"})  # fmt: skip
_CONSUMED = frozenset({"action_source", "fbc", "fbp", "url", "revenue", "total", "products",
                       "product_id", "sku", "query", "quantity", "price", "category"})  # fmt: skip


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


def platform(event: Event) -> str:
    """``ios`` or ``android`` where the event says it came from one, else ""."""
    context = event.get("context") or {}
    names = [(context.get("os") or {}).get("name"), (context.get("device") or {}).get("type"),
             (event.get("properties") or {}).get("platform")]  # fmt: skip
    for name in (str(n).lower() for n in names if isinstance(n, str)):
        if name in ("ios", "ipados", "android"):
            return "android" if name == "android" else "ios"
    return ""


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


def app_data(event: Event) -> dict[str, Any]:
    """``extinfo``: Meta's 16 device values, in its order, empty where Segment has none."""
    context = event.get("context") or {}
    app, os_, device = (context.get(k) or {} for k in ("app", "os", "device"))
    screen, network = context.get("screen") or {}, context.get("network") or {}
    values = ["i2" if platform(event) == "ios" else "a2", app.get("namespace"),
              app.get("version"), app.get("build"), os_.get("version"), device.get("model"),
              context.get("locale"), "", network.get("carrier"), screen.get("width"),
              screen.get("height"), screen.get("density"), "", "", "",
              context.get("timezone")]  # fmt: skip
    return {
        "advertiser_tracking_enabled": 1 if device.get("adTrackingEnabled") is True else 0,
        "application_tracking_enabled": 1,
        "extinfo": ["" if v is None else str(v) for v in values],
    }
