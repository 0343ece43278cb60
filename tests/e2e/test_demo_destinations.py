"""The demo that `make dev` sends (40 visitors, seed 7) reaches every destination's stand-in on
the whole local stack, and nothing is refused: no stand-in answers a 4xx, no destination
transform finds a contract violation, `cdp destinations status` shows deliveries and no
refusal for each destination.

One stated, counted exception: Meta's Conversions API refuses events more than 7 days old, and
our contract records such an event as a failed event with the reason rather than sending it.
The demo's journeys span 60 days (the warehouse, the tiers and the metrics need that history),
so its older tracks are exactly those failed events. The test checks that the split is exact:
every Meta-bound track of the demo (every engaged track; the demo refuses no consent) was either
delivered to Meta's stand-in (recent) or failed with Meta's window as the reason (older), and
nothing else failed. With seed 7 that is 23 delivered and 102 failed as too old.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from shared.destinations.meta import TOO_OLD, WINDOW
from shared.local.demo import run_demo
from shared.local.processes import patched_environ
from shared.local.standins import PROVIDERS
from shared.settings import get_settings
from shared.topology import DESTINATIONS as ENABLED_BY_CDP_DEV
from tests.e2e.conftest import eventually

SEED = 7  # what `cdp dev` sends: run_demo's defaults
DESTINATIONS = (*PROVIDERS, "webhook")
EDGE = timedelta(minutes=15)  # around Meta's window, either answer is right
PULL_SECONDS = 1.5  # the status's pull of each dead-letter subscription (the default waits 9 s)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def listings(stack: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """What each stand-in delivered and refused so far (the webhook's: events and rejections)."""
    found = {name: get(f"{stack['standins'][name]}/_standin") for name in PROVIDERS}
    webhook = get(stack["webhook_url"])
    live = [e for body in webhook["accepted"] if "backfill" not in body for e in body["batch"]]
    found["webhook"] = {"delivered": live, "refused": webhook["rejected"]}
    return found


def cli(stack: dict[str, Any], *args: str) -> Any:
    """``cdp ARGS --json --stack stack.json``, as an operator runs it; one thing differs: its
    dead-letter pulls wait 1.5 s, not 9 s each (14 subscriptions: two minutes per status)."""
    from shared import bootstrap
    from shared.adapters.pubsub import PubSubSubscriber
    from shared.bootstrap import use_services
    from shared.cli import main

    subscriber = PubSubSubscriber(stack["project_id"], timeout_seconds=PULL_SECONDS)
    quick = partial(bootstrap.bootstrap, subscriber=subscriber)

    get_settings.cache_clear()  # settings of another stack may be cached in this process
    use_services(None)
    out = io.StringIO()
    # stack.json's environment does not name the destinations `cdp dev` enables (only the
    # functions' environment has CDP_DESTINATIONS), so without this the status lists none.
    enabled = {"CDP_DESTINATIONS": ",".join(["ga4", *ENABLED_BY_CDP_DEV])}
    if "CDP_DESTINATIONS" in stack["environment"]:
        enabled = {}
    try:
        with (
            contextlib.redirect_stdout(out),
            patched_environ(enabled),
            mock.patch.object(bootstrap, "bootstrap", quick),
        ):
            code = main([*args, "--json", "--stack", str(Path(stack["state_dir"]) / "stack.json")])
    finally:
        get_settings.cache_clear()
        use_services(None)
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


def status(stack: dict[str, Any]) -> dict[str, dict[str, int]]:
    rows: list[dict[str, int]] = cli(stack, "destinations", "status")
    return {str(r["destination"]): r for r in rows}


def destination_failures(stack: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli(stack, "failed-events", "list", "--limit", "100000")
    return [r for r in rows if str(r.get("stage", "")).startswith("destination-")]


def mine(event: dict[str, Any]) -> bool:
    session = str((event.get("properties") or {}).get("session_id", ""))
    user = str(event.get("userId") or "")
    return user.startswith(f"user-{SEED}-") or session.startswith(f"s-{SEED}-")


def age(event: dict[str, Any], now: datetime) -> timedelta:
    return now - datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def demo(stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The demo sent once, then settled: what each place holds before and after it."""
    with patched_environ(stack["environment"]):
        before: dict[str, Any] = {
            "listings": listings(stack),
            "status": status(stack),
            "failed": {r["failed_id"] for r in destination_failures(stack)},
        }
        started, started_at = time.monotonic(), datetime.now(UTC)
        report = run_demo(stack)
        assert report.errors == [] and report.total > 0

        def counts() -> tuple[int, ...]:
            now = listings(stack)
            return tuple(
                len(now[n][k]) - len(before["listings"][n][k])
                for n in DESTINATIONS
                for k in ("delivered", "refused")
            )

        last: list[tuple[int, ...]] = []

        def settled() -> tuple[int, ...] | None:
            """Every destination took something and nothing moved for 6 polls (3 s)."""
            last.append(counts())
            quiet = len(last) >= 6 and len(set(last[-6:])) == 1
            return last[-1] if quiet and all(last[-1][0::2]) else None

        eventually(settled, timeout=90, every=0.5)
        yield {
            "report": report,
            "before": before,
            "listings": listings(stack),
            "seconds": time.monotonic() - started,
            "started_at": started_at,
        }


def new(demo: dict[str, Any], name: str, kind: str) -> list[Any]:
    found: list[Any] = demo["listings"][name][kind]
    return found[len(demo["before"]["listings"][name][kind]) :]


def test_every_stand_in_gets_the_demo_and_refuses_nothing(demo: dict[str, Any]) -> None:
    print(f"\ndemo sent {demo['report'].total} calls; settled after {demo['seconds']:.0f} s")
    for name in DESTINATIONS:
        delivered, refused = new(demo, name, "delivered"), new(demo, name, "refused")
        print(f"{name:>10}: {len(delivered)} delivered, {len(refused)} refused")
        assert delivered, f"{name}'s stand-in got nothing of the demo"
        assert refused == [], f"{name}'s stand-in refused {refused[:3]}"
    webhook = new(demo, "webhook", "delivered")
    assert webhook and all(mine(e) for e in webhook)  # the engaged share of the demo, live


def meta_bound(demo: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The demo's engaged tracks, by messageId: what Meta takes (the demo refuses no consent)."""
    engaged = new(demo, "webhook", "delivered")
    return {e["messageId"]: e for e in engaged if e["type"] == "track"}


def failures(stack: dict[str, Any], demo: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo's destination failures, once every Meta-bound track past the window is there."""
    if "failed" not in demo:
        now = datetime.now(UTC)
        old = {m for m, e in meta_bound(demo).items() if age(e, now) > WINDOW + EDGE}

        def recorded() -> list[dict[str, Any]] | None:
            with patched_environ(stack["environment"]):
                rows = destination_failures(stack)
            rows = [r for r in rows if r["failed_id"] not in demo["before"]["failed"]]
            return rows if old <= {r["message_id"] for r in rows} else None

        demo["failed"] = [] if not old else eventually(recorded, timeout=60, every=2.0)
    found: list[dict[str, Any]] = demo["failed"]
    return found


def test_no_destination_refuses_a_demo_event_but_meta_for_its_7_day_window(
    stack: dict[str, Any], demo: dict[str, Any]
) -> None:
    failed, for_meta, now = failures(stack, demo), meta_bound(demo), datetime.now(UTC)
    assert {r["stage"] for r in failed} <= {"destination-meta"}, failed[:3]
    assert {r["reason"] for r in failed} <= {TOO_OLD}
    too_old = {r["message_id"] for r in failed}
    sent = {str(e["key"]) for e in new(demo, "meta", "delivered")}
    assert too_old <= set(for_meta) and not too_old & sent
    assert too_old | sent == set(for_meta)  # each Meta-bound track: delivered or too old
    for m, event in for_meta.items():
        if abs(age(event, now) - WINDOW) > EDGE:
            assert (m in too_old) == (age(event, now) > WINDOW), event
    print(f"\nmeta: {len(sent)} demo tracks delivered, {len(too_old)} failed as older than 7 days")


def test_destinations_status_shows_deliveries_and_no_refusal(
    stack: dict[str, Any], demo: dict[str, Any]
) -> None:
    before = demo["before"]["status"]
    too_old = len(failures(stack, demo))  # Meta's window: the one refusal, counted

    def delta() -> dict[str, dict[str, int]] | None:
        with patched_environ(stack["environment"]):
            now = status(stack)
        found = {
            name: {k: now[name][k] - (before.get(name) or {}).get(k, 0)
                   for k in ("delivered", "refused", "dead_lettered")}
            for name in DESTINATIONS
        }  # fmt: skip
        done = found["meta"]["refused"] >= too_old
        return found if done and all(found[n]["delivered"] > 0 for n in DESTINATIONS) else None

    found = eventually(delta, timeout=60, every=2.0)
    print("\ncdp destinations status, the demo's share:", json.dumps(found))
    for name in DESTINATIONS:
        expected = too_old if name == "meta" else 0
        assert found[name]["delivered"] > 0, name
        assert found[name]["refused"] == expected, (name, found[name])
        assert found[name]["dead_lettered"] == 0, name


def test_the_demo_passes_the_shipped_tracking_plan_with_no_finding(
    stack: dict[str, Any], demo: dict[str, Any]
) -> None:
    """Nothing the demo sent is flagged or blocked by the plan or the PII guard (counted once
    every event it sent is loaded: raw and cold rows since it started stop changing)."""
    from shared.adapters.bigquery import BigQueryWarehouse

    bigquery = BigQueryWarehouse(
        stack["project_id"], "EU", stack["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    since = demo["started_at"].isoformat()
    tables = [f"{stack['project_id']}.cdp_raw.{t}" for t in ("events", "cold_archive")]
    counts: list[int] = []

    def loaded() -> int | None:
        counts.append(
            sum(
                bigquery.query(
                    f"SELECT COUNT(*) AS n FROM `{t}` WHERE received_at >= TIMESTAMP('{since}')"
                )[0]["n"]
                for t in tables
            )
        )
        return counts[-1] if len(counts) >= 3 and len(set(counts[-3:])) == 1 else None

    assert eventually(loaded, timeout=60, every=1.0) >= demo["report"].total
    ops = f"{stack['project_id']}.cdp_ops"
    found = bigquery.query(
        f"SELECT event, kind, property FROM `{ops}.violation_events` "
        f"WHERE received_at >= TIMESTAMP('{since}')"
    )
    assert found == []
    blocked = bigquery.query(
        f"SELECT reason FROM `{ops}.failed_events` "
        f"WHERE stage = 'ingest' AND recorded_at >= TIMESTAMP('{since}')"
    )
    assert blocked == []
