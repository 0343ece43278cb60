"""Demo traffic through a real SDK (segment-analytics-python), pointed at the local ingest.

Fintech journeys from the seeds' taxonomy: many cold one-page visitors, visitors who sign up
and complete KYC, users who link a bank and transact, and backend-confirmed transactions.
Deterministic for a given seed, so figures drawn from it can be reproduced.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PAGES = ("/", "/pricing", "/features/savings", "/blog/budgeting-101", "/security")
CAMPAIGNS = ("spring_savings", "cashback_launch", "brand_search")


@dataclass
class DemoReport:
    sent: Counter[str] = field(default_factory=Counter)  # by call type
    users: int = 0
    anonymous_visitors: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _client(write_key: str, host: str, report: DemoReport) -> Any:
    from segment.analytics import Client

    return Client(
        write_key=write_key,
        host=host,
        sync_mode=True,  # each call is one request: the demo reports exactly what got through
        on_error=lambda error, _batch: report.errors.append(str(error)),
        max_retries=3,
    )


def run_demo(stack: dict[str, Any], visitors: int = 40, seed: int = 7) -> DemoReport:
    rng = random.Random(seed)
    report = DemoReport()
    host = stack["ingest_url"]
    web = _client(stack["write_keys"]["web"], host, report)
    backend = _client(stack["write_keys"]["backend"], host, report)
    now = datetime.now(UTC)

    def send(client: Any, call: str, *args: Any, **kwargs: Any) -> None:
        getattr(client, call)(*args, **kwargs)
        report.sent[call] += 1

    for n in range(visitors):
        anonymous_id = str(uuid.UUID(int=rng.getrandbits(128)))
        campaign = rng.choice(CAMPAIGNS)
        context = {"campaign": {"name": campaign, "source": "google", "medium": "cpc"}}
        start = now - timedelta(minutes=rng.randint(5, 600))
        report.anonymous_visitors += 1
        for step, path in enumerate(rng.sample(PAGES, rng.randint(1, 3))):
            send(
                web,
                "page",
                anonymous_id=anonymous_id,
                name=path,
                context=context,
                properties={"path": path, "url": f"https://app.example.com{path}"},
                timestamp=start + timedelta(seconds=30 * step),
            )
        if n % 3:
            continue  # most visitors stay cold
        user_id = f"user-{seed}-{n}"
        report.users += 1
        traits = {"email": f"demo{n}@example.com", "plan": "free"}
        send(web, "identify", user_id, traits, anonymous_id=anonymous_id)
        send(
            web,
            "track",
            user_id,
            "account_created",
            {"platform": "web", "method": "email"},
            anonymous_id=anonymous_id,
        )
        send(web, "track", user_id, "kyc_started", {"platform": "web"})
        if n % 2 == 0:
            send(
                web,
                "track",
                user_id,
                "bank_account_linked",
                {"platform": "web", "bank": "Demo Bank"},
            )
            amount = round(rng.uniform(10, 500), 2)
            send(
                backend,
                "track",
                user_id,
                "transaction_completed",
                {"platform": "server", "amount": amount, "type": "deposit", "method": "ach"},
            )
    return report
