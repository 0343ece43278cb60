"""Demo traffic through a real SDK (segment-analytics-python), pointed at the local ingest.

Fintech journeys from the seeds' taxonomy, in the proportions that make the engagement tiers
matter: most visitors read one page and leave (a fourth of them in the last two days, so GA4,
which takes only 72 hours of backdating, gets some); some browse; about a fourth sign up (most
after an earlier anonymous visit, which stays cold until they do). Each person who signs up
lives one of the seeds' lifecycle stages, in turn, so any demo of five or more sign-ups has
members in all five audiences of ``shared/audiences/audiences.yaml``; those journeys, and the
bands of days that keep their moments clear of the stages' edges so the job finds the same
memberships for hours after the demo, are in ``demo_lifecycle.py``.

Each source (web, ios, android, backend) uses its own write key and SDK client, which batches
as a production app would. Deterministic for a given seed, so figures drawn from it can be
reproduced.

Every track call passes the shipped tracking plan with no finding: the browser's and the apps'
events carry ``platform`` and their ``session_id``; the backend's carry ``platform: server`` and
no session (it has none, and the plan asks a session only of the sources people hold).

Each call carries the context its real SDK would send, so every destination gets what its
provider needs (``demo_context.py``): the browser's ``userAgent`` and ``page`` on web calls; on
app calls ``device``, ``os``, ``app`` and the AppsFlyer and Firebase ids; nothing on the
backend's. Those ids come from a generator of each visitor's own (``Visitor.ids``), so adding
them did not move the journeys' draws: the same seed gives the same journeys and figures.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.local.demo_context import REFERRERS, Visitor
from shared.local.demo_lifecycle import EDGES, LIFECYCLE, lifecycle

PAGES = ("/", "/pricing", "/features/savings", "/blog/budgeting-101", "/security", "/cards")
FEATURES = ("savings_goals", "round_ups", "budgets", "early_paycheck", "cashback")
CAMPAIGNS = (
    ("spring_savings", "google", "cpc"),
    ("cashback_launch", "facebook", "paid_social"),
    ("brand_search", "google", "cpc"),
    ("newsletter_may", "email", "email"),
)
DAYS = 60  # anonymous visits spread over the last two months
SOURCES = ("web", "ios", "android", "backend")


@dataclass
class DemoReport:
    sent: Counter[str] = field(default_factory=Counter)  # by call type
    users: int = 0
    anonymous_visitors: int = 0
    errors: list[str] = field(default_factory=list)
    journeys: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _client(write_key: str, host: str, report: DemoReport) -> Any:
    from segment.analytics import Client

    return Client(
        write_key=write_key,
        host=host,
        on_error=lambda error, _batch: report.errors.append(str(error)),
        upload_size=100,  # batches, as production apps send them
        max_retries=3,
    )


class Journeys:
    """Each method is one kind of journey; ``send`` goes through the SDK client of a source."""

    def __init__(self, clients: dict[str, Any], report: DemoReport, now: datetime) -> None:
        self._clients = clients
        self._report = report
        self._now = now

    def send(self, source: str, v: Visitor, call: str, **kwargs: Any) -> None:
        if kwargs.get("timestamp") and kwargs["timestamp"] > self._now:
            kwargs["timestamp"] = self._now
        context = v.context(source) | kwargs.pop("context", {})
        getattr(self._clients[source], call)(**kwargs, **({"context": context} if context else {}))
        self._report.sent[call] += 1

    def at(self, v: Visitor, band: tuple[float, float] | float) -> float:
        """Move the visitor's clock to a moment ``band`` days back (or drawn from the band)."""
        days = v.rng.uniform(*band) if isinstance(band, tuple) else band
        for edge in EDGES:  # an incidental moment near an edge moves past it, older
            if edge - 0.3 <= days <= edge + 0.4:
                days = edge + 0.5
        v.when = self._now - timedelta(days=days)
        return days

    def visit(self, v: Visitor, pages: int) -> dict[str, Any]:
        campaign, utm_source, medium = v.rng.choice(CAMPAIGNS)
        context = {"campaign": {"name": campaign, "source": utm_source, "medium": medium}}
        props = v.new_session("web")
        v.page = {"url": REFERRERS.get(utm_source, "")}  # where the campaign's link was
        for path in v.rng.sample(PAGES, pages):
            page = v.open_page(path, f"?utm_campaign={campaign}")
            self.send(
                "web",
                v,
                "page",
                anonymous_id=v.anonymous_id,
                name=path,
                properties={**props, "path": path, "url": page["url"]},
                context={**context, "page": page},
                timestamp=v.later(0.2, 3),
            )
        return props

    def browse(self, v: Visitor) -> None:
        props = self.visit(v, v.rng.randint(2, 4))
        feature = v.rng.choice(FEATURES)
        self.track("web", v, "feature_viewed", {**props, "feature_name": feature})

    def track(
        self, source: str, v: Visitor, event: str, properties: dict[str, Any], path: str = ""
    ) -> None:
        if path:  # the page of the site the action happened on
            v.open_page(path)
        self.send(
            source,
            v,
            "track",
            user_id=v.user_id,
            anonymous_id=v.anonymous_id if v.user_id is None or source != "backend" else None,
            event=event,
            properties=properties,
            timestamp=v.later(0.5, 20),
        )

    def sign_up(self, v: Visitor, band: tuple[float, float]) -> dict[str, Any]:
        """An account, ``band`` days back, and KYC submitted; most came by days before."""
        days = self.at(v, band)
        if v.rng.random() < 0.7:  # most came by anonymously days before signing up
            self.at(v, days + v.rng.uniform(1, 5))
            self.visit(v, v.rng.randint(1, 3))
            self._clients["web"].flush()  # that visit left the browser then, in its own request
            self.at(v, days)
        props = self.visit(v, v.rng.randint(1, 3))
        v.user_id = f"user-{v.seed}-{v.n}"
        traits = {"email": v.email, "first_name": f"Demo{v.n}", "plan": "free"}
        v.open_page("/signup")
        self.send(
            "web", v, "alias", previous_id=v.anonymous_id, user_id=v.user_id, timestamp=v.when
        )
        self.send(
            "web",
            v,
            "identify",
            user_id=v.user_id,
            anonymous_id=v.anonymous_id,
            traits=traits,
            timestamp=v.later(0.1, 1),
        )
        self.track("web", v, "account_created", {**props, "method": "email"}, "/signup")
        self.track("web", v, "kyc_started", props, "/onboarding/identity")
        self.track("web", v, "kyc_document_submitted", {**props, "document_type": "passport"})
        return props

    def funded(self, v: Visitor, band: tuple[float, float]) -> None:
        """Signed up ``band`` days back, approved, a bank linked."""
        props = self.sign_up(v, band)
        self.track("backend", v, "kyc_approved", {"platform": "server"})
        self.track(
            "web", v, "bank_account_linked", {**props, "bank": "Demo Bank"}, "/onboarding/bank"
        )

    def transact(
        self, v: Visitor, days: list[float], amounts: tuple[float, float] = (10, 800)
    ) -> None:
        """One settled transaction at each of ``days`` back (a failed one is tried again)."""
        for day in sorted(days, reverse=True):
            self.at(v, day)
            kind, method = v.rng.choice(
                (("deposit", "ach"), ("transfer", "instant"), ("card", "pos"))
            )
            base = {"platform": "server", "amount": round(v.rng.uniform(*amounts), 2),
                    "type": kind, "method": method}  # fmt: skip
            outcome = "transaction_failed"
            while outcome == "transaction_failed":
                self.track("backend", v, "transaction_initiated", base)
                failed = v.rng.random() < 0.08
                outcome = "transaction_failed" if failed else "transaction_completed"
                self.track("backend", v, outcome, base)

    def mobile_login(self, v: Visitor) -> str:
        """A new phone: the app installed, signed in, and its first session."""
        platform = v.rng.choice(("ios", "android"))
        v.anonymous_id = str(uuid.UUID(int=v.rng.getrandbits(128)))  # a new device
        v.install(platform)
        self.send(
            platform,
            v,
            "identify",
            user_id=v.user_id,
            anonymous_id=v.anonymous_id,
            traits={"email": v.email},
            timestamp=v.later(0.1, 2),
        )
        self.app_session(v, platform)
        return platform

    def app_session(self, v: Visitor, platform: str) -> None:
        props = v.new_session(platform)
        self.track(platform, v, "session_started", props)
        self.send(
            platform,
            v,
            "screen",
            user_id=v.user_id,
            anonymous_id=v.anonymous_id,
            name="Dashboard",
            properties=props,
            timestamp=v.later(0.1, 1),
        )
        self.track(platform, v, "dashboard_viewed", props)
        if v.rng.random() < 0.5:
            self.track(platform, v, "notification_tapped", {**props, "campaign": "first_deposit"})


def _journey(j: Journeys, v: Visitor, users: int) -> str:
    roll = v.rng.random()
    if roll < 0.55:
        j.visit(v, 1)
        return "cold_bounce"
    if roll < 0.72:
        j.browse(v)
        return "browser"
    stage = LIFECYCLE[users % len(LIFECYCLE)]
    lifecycle(j, v, stage)
    return stage


def run_demo(
    stack: dict[str, Any],
    visitors: int = 40,
    seed: int = 7,
    client: Callable[[str, str, DemoReport], Any] = _client,  # tests pass a recording fake
) -> DemoReport:
    rng = random.Random(seed)
    report = DemoReport()
    clients = {s: client(stack["write_keys"][s], stack["ingest_url"], report) for s in SOURCES}
    now = datetime.now(UTC)
    journeys = Journeys(clients, report, now)
    try:
        for n in range(visitors):
            start = now - timedelta(
                days=rng.uniform(0.1, 2) if n % 4 == 0 else rng.uniform(1, DAYS)
            )
            visitor = Visitor(rng, n, seed, start, str(uuid.UUID(int=rng.getrandbits(128))))
            report.anonymous_visitors += 1
            kind = _journey(journeys, visitor, report.users)
            report.journeys[kind] += 1
            report.users += int(visitor.user_id is not None)
    finally:
        _close(clients.values(), report.errors.append)
    return report


def _close(clients: Any, on_error: Callable[[str], None]) -> None:
    """Flush every queued batch before reporting: the figures are what ingest accepted."""
    for client in clients:
        try:
            client.flush()
            client.shutdown()
        except Exception as error:  # the report carries it; the caller decides
            on_error(str(error))
