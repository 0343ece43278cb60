"""The deletion journey on the whole local stack: a person on three devices (a laptop, a phone,
a tablet), cold visits, two profiles merged, events in the warehouse's tables and at the
destinations' stand-ins → ``cdp privacy delete`` → ``cdp privacy verify`` passes, the
stand-ins of the destinations that offer deletion were asked to forget the person, and the
person's next event is suppressed at ingest."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.identity.profiles import ProfileRepository
from tests.e2e.conftest import cli, eventually, post

pytestmark = pytest.mark.e2e
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
ASKED = ("amplitude", "intercom")  # enabled with a deletion API and their keys on the stack
SUPPRESSION_REFRESH = 31.0  # ingest's list is at most 30 s old


def send(stack: dict[str, Any], source: str, *events: dict[str, Any]) -> None:
    now = datetime.now(UTC).isoformat()
    status, body = post(f"{stack['ingest_url']}/v1/batch",
                        {"batch": [{"timestamp": now, **e} for e in events]},
                        stack["write_keys"][source])  # fmt: skip
    assert status == 200, body


def deletions(stack: dict[str, Any], name: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack['standins'][name]}/_standin", timeout=10) as answer:
        found: list[dict[str, Any]] = json.loads(answer.read()).get("deletions") or []
        return found


@pytest.mark.timeout(600)
def test_a_deleted_person_is_gone_everywhere_and_stays_out(stack_env: dict[str, Any]) -> None:
    run = uuid.uuid4().hex[:8]
    user, email = f"priv-{run}", f"ada-{run}@example.com"
    laptop, phone, tablet = f"{run}-laptop", f"{run}-phone", f"{run}-tablet"
    web = {"userAgent": UA, "page": {"url": "https://app.example.com/"}}
    profiles = ProfileRepository(FirestoreDocumentStore(stack_env["project_id"]))
    warehouse = BigQueryWarehouse(stack_env["project_id"], "EU",
                                  stack_env["emulators"]["bigquery"]["endpoint"])  # fmt: skip

    # Cold visits on the laptop and the phone, before anyone knows who they are.
    send(stack_env, "web", {"type": "page", "anonymousId": laptop, "messageId": f"{run}-c1",
                            "name": "Home", "context": web})  # fmt: skip
    send(stack_env, "ios", {"type": "screen", "anonymousId": phone, "messageId": f"{run}-c2",
                            "name": "Welcome"})  # fmt: skip
    # Two profiles: the laptop signs up (userId), the tablet leaves the email.
    send(stack_env, "web", {"type": "identify", "userId": user, "anonymousId": laptop,
                            "messageId": f"{run}-i1", "traits": {"email": email.upper()},
                            "context": web})  # fmt: skip
    tablet_identify = {"type": "identify", "anonymousId": tablet, "messageId": f"{run}-i2",
                       "traits": {"phone": "+14155550123"}}  # fmt: skip
    send(stack_env, "android", tablet_identify)
    eventually(lambda: profiles.find(("anonymous_id", tablet)), timeout=60)
    # The tablet signs in: one event with both, the two profiles merge; the phone logs in.
    send(stack_env, "android", {"type": "identify", "userId": user, "anonymousId": tablet,
                                "messageId": f"{run}-i3", "traits": {"plan": "pro"}})  # fmt: skip
    send(stack_env, "ios", {"type": "identify", "userId": user, "anonymousId": phone,
                            "messageId": f"{run}-i4", "traits": {"name": "Ada"}})  # fmt: skip
    payment = {
        "type": "track",
        "event": "card_activated",
        "userId": user,
        "messageId": f"{run}-t1",
        "properties": {"platform": "server", "session_id": run},
    }
    send(stack_env, "backend", payment)

    def whole() -> dict[str, Any] | None:
        found = profiles.find(("user_id", user))
        ids = (found or {}).get("identifiers") or {}
        return found if {laptop, phone, tablet} <= set(ids.get("anonymous_id") or []) else None

    eventually(whole, timeout=90)
    raw = f"{stack_env['project_id']}.cdp_raw"

    def loaded() -> bool:
        rows = warehouse.query(f"SELECT COUNT(*) AS n FROM `{raw}.events` WHERE user_id = @u",
                               {"u": user})  # fmt: skip
        cold = warehouse.query(
            f"SELECT COUNT(*) AS n FROM `{raw}.cold_archive` WHERE anonymous_id IN UNNEST(@a)",
            {"a": [laptop, phone]})  # fmt: skip
        return int(rows[0]["n"]) >= 4 and int(cold[0]["n"]) >= 2

    eventually(loaded, timeout=90, every=2.0)
    eventually(lambda: user in json.dumps(deletions_or_events(stack_env, "amplitude")), 60)
    cli(stack_env, "jobs", "run", "warehouse-users")

    made = json.loads(cli(stack_env, "privacy", "delete", "--user-id", user, "--json"))
    request_id = made["request_id"]
    status = json.loads(cli(stack_env, "privacy", "status", request_id, "--json"))
    assert status["type"] == "SUPPRESS_WITH_DELETE"
    assert status["status"] in ("done", "partial"), status["steps"]
    by_step = {s["name"]: s for s in status["steps"]}
    assert by_step["firestore:profiles"]["status"] == "done"
    assert by_step["bigquery:cdp_raw.cold_archive"]["detail"] != "deleted 0 rows"
    for name in ASKED:
        assert by_step[f"destination:{name}"]["status"] == "done", by_step[f"destination:{name}"]
        assert deletions(stack_env, name), f"{name} received no deletion call"
    assert by_step["destination:meta"]["status"] == "unsupported"

    verified = cli(stack_env, "privacy", "verify", request_id)
    assert verified.startswith("clean"), verified
    after = json.loads(cli(stack_env, "privacy", "status", request_id, "--json"))
    assert after["status"] == "verified" and user not in json.dumps(after)

    # The person comes back: ingest drops the event once its list has refreshed.
    time.sleep(SUPPRESSION_REFRESH)
    again = {
        "type": "track",
        "event": "card_activated",
        "userId": user,
        "anonymousId": laptop,
        "messageId": f"{run}-next",
        "context": web,
    }
    send(stack_env, "web", again)
    time.sleep(10)
    assert profiles.find(("user_id", user)) is None
    rows = warehouse.query(f"SELECT COUNT(*) AS n FROM `{raw}.events` WHERE message_id = @m",
                           {"m": f"{run}-next"})  # fmt: skip
    assert int(rows[0]["n"]) == 0


def deletions_or_events(stack: dict[str, Any], name: str) -> Any:
    """What the stand-in holds (the person's events reached it before the delete)."""
    with urllib.request.urlopen(f"{stack['standins'][name]}/_standin", timeout=10) as answer:
        return json.loads(answer.read()).get("delivered")
