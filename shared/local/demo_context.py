"""The context each demo source's real SDK adds to a call, as the providers read it.

- Web (what analytics.js sends; the demo passes it as the Python client's ``context=``):
  ``userAgent``, ``locale``, ``timezone`` and ``page`` (url, path, search, referrer). Meta needs
  the url and user agent of a website event, Firebase a client id (the anonymousId).
- Apps (analytics-swift / analytics-kotlin): ``device`` (id; the advertising id only when the
  person allowed tracking, as iOS's ATT and Android's ad settings decide), ``os``, ``app``,
  ``screen``, ``network``, ``locale``, ``timezone`` and ``context.externalIds`` with the ids the
  app's other SDKs read on the phone: AppsFlyer's ``appsflyer_id`` (AppsFlyer S2S needs it) and
  Firebase's 32-hex ``app_instance_id`` (the Measurement Protocol's app streams need it).

``Visitor`` carries one person's devices, ids and clock, so the context follows them from call
to call.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SITE = "https://app.example.com"
REFERRERS = {"google": "https://www.google.com/", "facebook": "https://l.facebook.com/"}
BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
)
PHONES = {  # (manufacturer, model, os name, os versions, screen width, height, density)
    "ios": ("Apple", ("iPhone15,2", "iPhone16,1", "iPhone14,5"), "iOS", ("17.5.1", "18.1"),
            393, 852, 3.0),
    "android": ("Google", ("Pixel 8", "Pixel 7a", "Pixel 9"), "Android", ("14", "15"),
                412, 915, 2.625),
}  # fmt: skip
APP = {"name": "Demo Money", "version": "4.2.1", "build": "421", "namespace": "com.example.cdp"}


def web_context(browser: str, page: dict[str, str]) -> dict[str, Any]:
    return {"userAgent": browser, "locale": "en-US", "timezone": "America/New_York",
            "page": dict(page)}  # fmt: skip


def phone_context(ids: random.Random, platform: str) -> dict[str, Any]:
    """A new phone's context; every id drawn from ``ids`` (the visitor's own generator)."""
    maker, models, os_name, versions, width, height, density = PHONES[platform]
    allowed = ids.random() < (0.4 if platform == "ios" else 0.85)  # ATT / ad settings
    device: dict[str, Any] = {
        "id": str(uuid.UUID(int=ids.getrandbits(128))),
        "manufacturer": maker,
        "model": ids.choice(models),
        "type": platform,
        "adTrackingEnabled": allowed,
    }
    if allowed:
        device["advertisingId"] = str(uuid.UUID(int=ids.getrandbits(128)))
    appsflyer = f"{1_700_000_000_000 + ids.randrange(10**10)}-{ids.randrange(10**18)}"
    return {
        "app": APP,
        "device": device,
        "os": {"name": os_name, "version": ids.choice(versions)},
        "screen": {"width": width, "height": height, "density": density},
        "network": {"wifi": ids.random() < 0.6, "cellular": True},
        "locale": "en-US",
        "timezone": "America/New_York",
        "externalIds": [
            {"id": appsflyer, "type": "appsflyer_id", "collection": "users", "encoding": "none"},
            {"id": f"{ids.getrandbits(128):032x}", "type": "app_instance_id",
             "collection": "users", "encoding": "none"},
        ],
    }  # fmt: skip


@dataclass
class Visitor:
    """One person's devices and identifiers, and the clock of their journey."""

    rng: random.Random
    n: int
    seed: int
    when: datetime
    anonymous_id: str
    user_id: str | None = None
    session: int = 0
    page: dict[str, str] = field(default_factory=dict)  # the page the browser is on
    phone: dict[str, Any] = field(default_factory=dict)  # the app's context, once installed

    def __post_init__(self) -> None:
        # Device ids and the browser from a generator of the visitor's own: the journeys' draws
        # (``rng``) stay what they were, whatever the context holds.
        self.ids = random.Random(f"demo:{self.seed}:{self.n}")
        self.browser = self.ids.choice(BROWSERS)

    @property
    def email(self) -> str:
        return f"demo-{self.seed}-{self.n}@example.com"

    def open_page(self, path: str, search: str = "", referrer: str = "") -> dict[str, str]:
        """Go to ``path``; the page before is the referrer unless one is given."""
        page = {"path": path, "url": f"{SITE}{path}{search}", "search": search,
                "referrer": referrer or self.page.get("url", "")}  # fmt: skip
        self.page = {k: v for k, v in page.items() if v}
        return self.page

    def install(self, platform: str) -> dict[str, Any]:
        """A new phone: the context its app's SDKs send from then on."""
        self.phone = phone_context(self.ids, platform)
        return self.phone

    def context(self, source: str) -> dict[str, Any]:
        """What the source's SDK adds to every call (the backend's: nothing)."""
        if source == "web":
            return web_context(self.browser, self.page)
        return dict(self.phone) if source in PHONES else {}

    def later(self, low_minutes: float, high_minutes: float) -> datetime:
        self.when += timedelta(minutes=self.rng.uniform(low_minutes, high_minutes))
        return self.when

    def new_session(self, platform: str) -> dict[str, str]:
        self.session += 1
        return {"platform": platform, "session_id": f"s-{self.seed}-{self.n}-{self.session}"}
