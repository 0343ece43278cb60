"""Destinations on the whole local stack, through ingest, identity and each destination's own
function, against the providers' stand-ins.

- Isolation: Amplitude's stand-in answers 500 for two minutes while Meta's keeps answering 503;
  every other destination has every event within seconds; when Amplitude recovers, each of its
  insert_ids arrives once; Meta's message dead-letters, and `cdp dlq replay meta` delivers it
  after the fix, each event_id once.
- Consent is the person's: a person who refused `advertising` on their phone never reaches Meta
  or AppsFlyer from their phone, laptop or the backend, back-fills included, and still reaches
  Amplitude; a person who did not refuse reaches all three.

The stack is this module's own: destinations retry every 1 to 12 s for 30 attempts (about
three minutes, so two minutes of 500s are survived and a destination that keeps failing
dead-letters within the test), and opt into back-fills.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.firestore import FirestoreDocumentStore
from shared.identity.profiles import ProfileRepository
from shared.local.processes import on_free_ports, patched_environ
from shared.local.scheduler import trigger
from shared.local.stack import LocalStack
from shared.local.stack_config import StackConfig, StackPorts
from tests.e2e.conftest import cli, eventually, post

FAULT_SECONDS = 120
# The Pub/Sub emulator's backoff grows from 1 s to the 12 s ceiling over ~10 attempts (16
# spanned 108 s, measured), and the local retry keeper adds one attempt every 12 s: 30 attempts
# span about three minutes.
RETRY = '{"attempts": 30, "minimum_backoff_seconds": 1, "maximum_backoff_seconds": 12}'
BACKFILLS = {f"CDP_{n}_BACKFILL": "true" for n in ("AMPLITUDE", "META", "APPSFLYER", "WEBHOOK")}
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("destinations")
    started: list[LocalStack] = []

    def start() -> dict[str, Any]:
        config = StackConfig(StackPorts.free(), state, "cdp-dest", run_schedules=False)
        started.append(LocalStack(config))
        return started[-1].start()

    try:
        with patched_environ({"CDP_DESTINATION_RETRY": RETRY, **BACKFILLS}):
            info = on_free_ports(start)
        with patched_environ(info["environment"]):
            yield info
    finally:
        if started:
            started[-1].stop()


def standin(stack: dict[str, Any], name: str, method: str = "GET", **fault: Any) -> Any:
    url = f"{stack['standins'][name]}/_standin" + ("/faults" if fault else "")
    data = json.dumps(fault).encode() if fault else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


def keys(stack: dict[str, Any], name: str) -> Counter[str]:
    return Counter(str(e.get("key")) for e in standin(stack, name)["delivered"])


def webhook_ids(stack: dict[str, Any]) -> set[str]:
    with urllib.request.urlopen(stack["webhook_url"], timeout=10) as answer:
        listing = json.loads(answer.read())
    return {str(e["messageId"]) for body in listing["accepted"] for e in body["batch"]}


def send(stack: dict[str, Any], source: str, *events: dict[str, Any]) -> None:
    now = datetime.now(UTC).isoformat()
    batch = [{"timestamp": now, **e} for e in events]
    status, body = post(f"{stack['ingest_url']}/v1/batch", {"batch": batch},
                        stack["write_keys"][source])  # fmt: skip
    assert status == 200, body


def web_track(n: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "card_activated", "userId": user, "messageId": n,
            "anonymousId": f"{user}-laptop", "properties": {"platform": "web"},
            "context": {"userAgent": UA, "ip": "203.0.113.9",
                        "page": {"url": "https://app.example.com/cards"}}, **extra}  # fmt: skip


@pytest.mark.timeout(600)  # two minutes of faults, then a dead letter after its retries
def test_a_broken_provider_delays_no_other_and_recovers_or_dead_letters(
    stack: dict[str, Any],
) -> None:
    run = uuid.uuid4().hex[:8]
    user = f"iso-{run}"
    standin(stack, "amplitude", "POST", status=500, seconds=FAULT_SECONDS)
    standin(stack, "meta", "POST", status=503, seconds=3600)
    started = time.monotonic()
    events = [web_track(f"{run}-{n}", user) for n in range(20)]
    send(stack, "web", *events)
    ids = {e["messageId"] for e in events}

    # Every other destination that takes these events has them within seconds.
    eventually(lambda: ids <= webhook_ids(stack), timeout=30)
    eventually(lambda: ids <= set(keys(stack, "firebase")), timeout=30)
    others_took = time.monotonic() - started
    assert others_took < 30
    assert not ids & set(keys(stack, "amplitude"))  # still failing
    assert standin(stack, "amplitude")["failed_on_purpose"] >= 1

    # Amplitude recovers: each insert_id arrives once.
    eventually(lambda: ids <= set(keys(stack, "amplitude")), timeout=FAULT_SECONDS + 90, every=2.0)
    got = keys(stack, "amplitude")
    assert time.monotonic() - started >= FAULT_SECONDS - 5
    assert {k: got[k] for k in ids} == dict.fromkeys(ids, 1)

    # Meta kept failing: its message is dead-lettered, then replayed after the fix.
    def dead() -> list[dict[str, Any]]:
        found = json.loads(cli(stack, "dlq", "list", "meta", "--json"))
        return [m for m in found if ids & set(m.get("message_ids") or [])]

    [letter] = eventually(dead, timeout=240, every=5.0)
    assert letter["subscription"] == "destination-meta-dead-letter"
    assert not ids & set(keys(stack, "meta"))
    standin(stack, "meta", "DELETE")  # the fix: Meta answers again
    assert "replayed 1" in cli(stack, "dlq", "replay", "meta")
    eventually(lambda: ids <= set(keys(stack, "meta")), timeout=60)
    meta = keys(stack, "meta")
    assert {k: meta[k] for k in ids} == dict.fromkeys(ids, 1)
    status = {
        r["destination"]: r for r in json.loads(cli(stack, "destinations", "status", "--json"))
    }
    assert status["amplitude"]["retried"] >= 1 and status["amplitude"]["delivered"] >= len(ids)
    assert status["meta"]["delivered"] >= len(ids) and status["meta"]["refused"] == 0


def test_a_refusal_on_the_phone_holds_on_every_device_and_in_back_fills(
    stack: dict[str, Any],
) -> None:
    run = uuid.uuid4().hex[:8]
    profiles = ProfileRepository(FirestoreDocumentStore(stack["project_id"]))
    sent: dict[str, set[str]] = {}
    for who, refuses in (("refuser", True), ("control", False)):
        user = f"{who}-{run}"
        phone = {"os": {"name": "iOS", "version": "17.5"}, "device": {"type": "ios"},
                 "app": {"name": "Cdp", "version": "3.1", "namespace": "com.example.cdp"},
                 "externalIds": [{"type": "appsflyer_id", "id": f"af-{user}", "collection": "users",
                                  "encoding": "none"}]}  # fmt: skip
        choice = {"consent": {"categoryPreferences": {"advertising": not refuses}}}
        ten_minutes_ago = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        # A cold, anonymous visit on the laptop before signing up (back-filled later).
        send(stack, "web", {**web_track(f"{user}-cold", user, event="pricing_viewed"),
                            "userId": None, "timestamp": ten_minutes_ago})  # fmt: skip
        send(stack, "ios", {"type": "identify", "userId": user, "anonymousId": f"{user}-phone",
                            "messageId": f"{user}-choice", "traits": {"appsflyer_id": f"af-{user}"},
                            "context": {**phone, **choice}})  # fmt: skip

        def chose(user: str = user) -> Any:
            return (profiles.find(("user_id", user)) or {}).get("consent")

        eventually(chose, timeout=60)
        send(stack, "ios", {"type": "track", "event": "card_activated", "userId": user,
                            "anonymousId": f"{user}-phone", "messageId": f"{user}-phone",
                            "properties": {"platform": "ios"}, "context": phone})  # fmt: skip
        send(stack, "web", {**web_track(f"{user}-laptop", user),
                            "type": "identify", "traits": {"plan": "free"}})  # fmt: skip
        send(stack, "web", web_track(f"{user}-web", user))
        send(stack, "backend", {"type": "track", "event": "transaction_completed", "userId": user,
                                "messageId": f"{user}-server",
                                "properties": {"amount": 20, "currency": "USD"}})  # fmt: skip
        sent[who] = {f"{user}-{k}" for k in ("cold", "choice", "phone", "laptop", "web", "server")}

    every = sent["refuser"] | sent["control"]
    eventually(lambda: {m for m in every if not m.endswith("-cold")} <= webhook_ids(stack),
               timeout=90)  # fmt: skip
    jobs = stack["functions"]["jobs"]["url"]

    def backfilled() -> bool:
        """The sweep back-fills each id once it has entered (its identity reached the
        warehouse); the webhook then has both people's cold visits."""
        trigger(jobs, "tier-promotion-sweep")
        return every <= webhook_ids(stack)

    eventually(backfilled, timeout=120, every=3.0)
    # analytics: both people, every device and source, the back-fill
    try:
        eventually(lambda: every <= set(keys(stack, "amplitude")), timeout=60)
    except AssertionError:
        missing = sorted(every - set(keys(stack, "amplitude")))
        raise AssertionError(  # noqa: B904 - the names matter, not the timeout's trace
            f"not at Amplitude: {missing}; {standin(stack, 'amplitude')['refused']}"
        )
    for advertising in ("meta", "appsflyer"):
        assert not sent["refuser"] & set(keys(stack, advertising)), advertising
    eventually(lambda: f"control-{run}-web" in keys(stack, "meta"), timeout=30)
    assert f"control-{run}-server" in keys(stack, "meta")
    assert f"control-{run}-phone" in keys(stack, "appsflyer")
