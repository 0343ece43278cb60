"""The demo traffic generator (``cdp demo``) drives fintech journeys through the real Python SDK:
every call it reports as sent arrives exactly once on ``events`` or ``cold-events`` (one tier
each), and the journeys include the cold majority and the engaged few the tiers are built
for."""

from __future__ import annotations

import random
import time
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

    project = stack_env["project_id"]
    with tap(project) as engaged, tap(project, "cold-events") as cold:
        report = run_demo(stack_env, visitors=60, seed=seed)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            got = engaged.collect(mine, expected=0, quiet=0.5) + cold.collect(mine, 0, quiet=0.5)
            if len(got) >= report.total:
                break
        arrived = engaged.collect(mine, 0) + cold.collect(mine, 0)  # and nothing more comes
    assert report.errors == []
    assert len({e["messageId"] for e in arrived}) == len(arrived) == report.total
    tiers = (len(engaged.collect(mine, 0, quiet=0)), len(cold.collect(mine, 0, quiet=0)))
    assert all(tiers), tiers  # both tiers carry part of the demo
    assert Counter(e["type"] for e in arrived) == report.sent
    assert report.journeys["cold_bounce"] > report.users / 2  # most visitors stay cold
    assert 0 < report.users < report.anonymous_visitors == 60
    sources = Counter(e["sourceId"] for e in arrived)
    assert set(sources) >= {"web", "backend"} and (sources["ios"] or sources["android"])
    names = {e.get("event") for e in arrived}
    assert {"account_created", "kyc_started", "bank_account_linked"} <= names
