"""A privacy request end to end on the fakes: the person found through identity, every store
cleared, the streaming buffer's refusal retried, the audit trail, verification, suppression."""

from __future__ import annotations

from typing import Any

import pytest

from shared.audiences.sql_source import LEDGER
from shared.governance.privacy.audit import REQUESTS
from shared.governance.privacy.firestore import SQL_SOURCES
from shared.governance.privacy.requests import DONE, PENDING, UNSUPPORTED, VERIFIED
from shared.governance.privacy.service import PrivacyService
from shared.governance.privacy.suppression import Suppressions
from shared.identity.graph import IDENTIFIERS, PROFILES
from shared.identity.identifiers import Identifier
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore, document_id
from shared.ports.http import FakeHttpSender
from shared.ports.subscriber import InMemorySubscriber
from shared.tiering.attribution import ATTRIBUTION
from shared.tiering.state import PROMOTIONS
from tests.fakes import unit_settings
from tests.unit.governance.privacy_fakes import FakeDeleter, ScriptedSql, person_with_a_merge

KEY = "unit-key"
RAW = "cdp_raw.events"


@pytest.fixture
def world() -> dict[str, Any]:
    store = InMemoryDocumentStore()
    repo = person_with_a_merge(store)
    store.set(PROMOTIONS, "a1", {"anonymous_id": "a1", "user_id": "u1"})
    store.set(ATTRIBUTION, "a1", {"anonymous_id": "a1", "user_id": "u1"})
    store.set(PROMOTIONS, "b1", {"anonymous_id": "b1", "user_id": "u9"})
    for who in ("u1", "ada@example.com", "u9"):  # SQL sources' ledger: <source>:<identity>
        store.set(LEDGER, document_id(f"crm_traits:{who}"), {"message_id": f"sql-{who}"})
    sql = ScriptedSql(
        rows={RAW: 4, "cdp_raw.cold_archive": 7, "cdp_processed.tracks": 1,
              "cdp_ops.failed_events": 1},
        buffered={RAW: 2},
        identity_map=[{"identifier_type": "anonymous_id", "identifier_value": "a0-cold"}],
    )  # fmt: skip
    subscriber = InMemorySubscriber()
    dead = "destination-amplitude-dead-letter"
    subscriber.put(dead, b'{"events": [{"userId": "u1", "messageId": "m3"}]}')
    subscriber.put(dead, b'{"events": [{"userId": "u9", "messageId": "m9"}]}')
    amplitude = FakeDeleter("amplitude", ["retry", "requested"])
    clock = FakeClock()
    service = PrivacyService(
        settings=unit_settings(pii_hash_key=KEY, destinations=["amplitude", "meta"]),
        documents=store,
        clock=clock,
        sql=sql,
        http=FakeHttpSender(),
        subscriber=subscriber,
        deleters=lambda: [amplitude],
        without_deletion=lambda: ["meta"],
        new_id=lambda: "req-1",
    )
    return {"store": store, "repo": repo, "sql": sql, "service": service, "sub": subscriber,
            "amplitude": amplitude, "clock": clock, "dead": dead}  # fmt: skip


def test_a_delete_removes_the_person_and_retries_the_streaming_buffer(
    world: dict[str, Any],
) -> None:
    service, store, sql = world["service"], world["store"], world["sql"]
    request = service.submit("SUPPRESS_WITH_DELETE", [service.subject("email", "ADA@example.com")])
    assert request.request_id == "req-1"
    ids = request.person.identifiers
    assert ids["user_id"] == ["u1"] and set(ids["anonymous_id"]) == {"a0-cold", "a1", "a2"}
    assert ids["device_id"] == ["dev-1"] and ids["email"] == ["ada@example.com"]
    assert len(request.person.profile_ids) == 2  # the root and the profile merged into it
    # Everything but the raw events (still in the streaming buffer) is done already.
    assert request.status == PENDING
    raw = request.step(f"bigquery:{RAW}")
    assert raw.status == PENDING and "streaming buffer" in raw.detail
    assert request.step("bigquery:cdp_raw.cold_archive").status == DONE
    assert request.step("destination:amplitude").status == PENDING
    assert request.step("destination:meta").status == UNSUPPORTED
    violations = request.step("bigquery:cdp_ops.violation_events")
    assert violations.status in (DONE, "skipped")
    assert all(store.get(PROFILES, p) is None for p in request.person.profile_ids)
    assert store.get(IDENTIFIERS, "user_id:u1") is None
    assert store.get(PROMOTIONS, "a1") is None and store.get(ATTRIBUTION, "a1") is None
    assert world["repo"].find(("user_id", "u9")) is not None  # Bob is untouched
    assert store.get(PROMOTIONS, "b1") is not None
    assert [d for d, _ in store.list(LEDGER)] == [document_id("crm_traits:u9")]  # only Bob's
    left = [m.data for m in world["sub"].waiting[world["dead"]]]
    assert left == [b'{"events": [{"userId": "u9", "messageId": "m9"}]}']
    # The failed events were matched by payload and by the person's raw event ids.
    failed_sql = next(s for s, _ in sql.calls if s.startswith("DELETE FROM `cdp-unit.cdp_ops.f"))
    assert "JSON_VALUE(SAFE.PARSE_JSON(payload)" in failed_sql and "cdp_raw.events" in failed_sql

    world["clock"].advance(600)
    again = service.resume()
    assert again["requests"] == {"req-1": PENDING}  # refused once more
    world["clock"].advance(600)
    assert service.resume()["requests"] == {"req-1": DONE}
    done = service.status("req-1")
    assert done.step(f"bigquery:{RAW}").detail == "deleted 4 rows"
    assert done.step(f"bigquery:{RAW}").attempts == 3
    assert [e["status"] for e in done.trail if e["step"] == f"bigquery:{RAW}"] == [
        PENDING, PENDING, DONE,
    ]  # fmt: skip
    assert world["amplitude"].asked[-1]["user_id"] == ["u1"]
    assert "job-1" in done.step("destination:amplitude").detail
    assert service.resume() == {"resumed": 0, "requests": {}}


def test_verify_lists_what_remains_then_forgets_the_person(world: dict[str, Any]) -> None:
    service, sql, store = world["service"], world["sql"], world["store"]
    sql.buffered.clear()
    request = service.submit("SUPPRESS_WITH_DELETE", [Identifier("user_id", "u1")])
    assert service.status(request.request_id).status == PENDING  # amplitude said retry
    world["clock"].advance(600)
    service.resume()
    sql.rows["cdp_processed.users"] = 1  # something the delete did not reach
    findings = service.verify("req-1")
    assert not findings.clean and "bigquery:cdp_processed.users (1 rows)" in findings.found
    assert service.status("req-1").person.identifiers  # kept until verified
    sql.rows["cdp_processed.users"] = 0
    findings = service.verify("req-1")
    assert findings.clean, findings.found
    verified = service.status("req-1")
    assert verified.status == VERIFIED and not verified.person.identifiers
    record = str(store.get(REQUESTS, "req-1"))
    assert "u1" not in record and "ada@example.com" not in record and verified.hashes
    searched = " ".join(findings.searched)
    assert "firestore:profiles" in searched and "bigquery:cdp_raw.cold_archive" in searched
    assert "pubsub:destination-amplitude-dead-letter" in searched


def test_suppression_then_unsuppression(world: dict[str, Any]) -> None:
    service, store, clock = world["service"], world["store"], world["clock"]
    check = Suppressions(store, clock, KEY, refresh_seconds=1)
    phone_event = {"type": "track", "anonymousId": "a2", "messageId": "n1"}
    assert not check.suppressed(phone_event)
    request = service.submit("SUPPRESS_ONLY", [Identifier("user_id", "u1")])
    assert request.status == DONE and [s.name for s in request.steps] == ["suppress"]
    clock.advance(1)
    assert check.suppressed(phone_event)  # every identifier of the person, not only u1
    assert world["repo"].find(("user_id", "u1")) is not None  # suppressing deletes nothing
    assert "u1" not in str(store.get(REQUESTS, "req-1"))
    service.new_id = lambda: "req-2"
    undo = service.submit("UNSUPPRESS", [Identifier("user_id", "u1")])
    assert undo.status == DONE
    clock.advance(1)
    assert not check.suppressed(phone_event)


def test_delete_only_does_not_suppress(world: dict[str, Any]) -> None:
    service = world["service"]
    request = service.submit("DELETE_ONLY", [Identifier("user_id", "u1")])
    assert "suppress" not in [s.name for s in request.steps]
    check = Suppressions(world["store"], world["clock"], KEY)
    assert not check.suppressed({"type": "track", "userId": "u1", "messageId": "z"})


def test_a_subject_nobody_holds_is_still_deleted_and_suppressed(world: dict[str, Any]) -> None:
    service = world["service"]
    world["sql"].identity_map.clear()
    request = service.submit("SUPPRESS_WITH_DELETE", [Identifier("user_id", "stranger")])
    assert request.person.identifiers == {"user_id": ["stranger"]}
    check = Suppressions(world["store"], world["clock"], KEY)
    assert check.suppressed({"type": "track", "userId": "stranger", "messageId": "z"})


def test_the_sql_sources_ledger_is_the_one_privacy_clears() -> None:
    assert SQL_SOURCES == LEDGER
