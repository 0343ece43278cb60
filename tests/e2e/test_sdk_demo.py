"""The demo traffic generator (``cdp demo``) drives fintech journeys through the real Python SDK:
every call it reports as sent arrives on the ``events`` topic exactly once, and the journeys
include the cold majority and the engaged few the tiers are built for."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from shared.local.demo import run_demo
from tests.e2e.sdk.tap import tap


def test_demo_journeys_arrive_exactly_once(stack_env: dict[str, Any]) -> None:
    seed = random.randrange(10**6, 10**7)  # ids carry the seed: this run's events are ours

    def mine(event: dict[str, Any]) -> bool:
        session = str((event.get("properties") or {}).get("session_id", ""))
        return str(event.get("userId") or "").startswith(f"user-{seed}-") or session.startswith(
            f"s-{seed}-"
        )

    with tap(stack_env["project_id"]) as events:
        report = run_demo(stack_env, visitors=60, seed=seed)
        arrived = events.collect(mine, expected=report.total, timeout=90)
    assert report.errors == []
    assert len({e["messageId"] for e in arrived}) == len(arrived) == report.total
    assert Counter(e["type"] for e in arrived) == report.sent
    assert report.journeys["cold_bounce"] > report.users / 2  # most visitors stay cold
    assert 0 < report.users < report.anonymous_visitors == 60
    sources = Counter(e["sourceId"] for e in arrived)
    assert set(sources) >= {"web", "backend"} and (sources["ios"] or sources["android"])
    names = {e.get("event") for e in arrived}
    assert {"account_created", "kyc_started", "bank_account_linked"} <= names
