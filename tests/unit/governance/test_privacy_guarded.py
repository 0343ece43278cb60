"""A person whose identifier ingest's PII guard hashed (a card-like userId, with a hash key)
is found, deleted and verified by the value the operator knows."""

from __future__ import annotations

from shared.governance.pii import HASH_PREFIX, PiiConfig, PiiGuard
from shared.governance.privacy import people
from shared.governance.privacy.requests import DONE
from shared.governance.privacy.service import PrivacyService
from shared.identity.identifiers import Identifier
from shared.identity.profiles import ProfileRepository
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender
from tests.fakes import unit_settings
from tests.unit.governance.privacy_fakes import ScriptedSql

KEY = "unit-key"
CARD = "4539578763621486"  # passes Luhn: the guard takes it for a card number


def guard() -> PiiGuard:
    return PiiGuard(PiiConfig(), KEY)


def test_as_stored_adds_the_hashed_form_and_nothing_for_a_plain_id() -> None:
    found = people.as_stored([Identifier("user_id", CARD), Identifier("user_id", "u1")], guard())
    assert found[0] == Identifier("user_id", CARD) and found[2] == Identifier("user_id", "u1")
    assert found[1].type == "user_id" and found[1].value.startswith(HASH_PREFIX)
    assert len(found) == 3
    external = people.as_stored([Identifier("crm_id", CARD)], guard())
    assert [i.value for i in external][1] == found[1].value  # the same key, the same hash


def test_without_a_key_nothing_is_hashed_so_nothing_is_added() -> None:
    assert people.as_stored([Identifier("user_id", CARD)], PiiGuard(PiiConfig(), "")) == [
        Identifier("user_id", CARD)
    ]


def test_a_delete_by_the_raw_value_finds_the_hashed_person() -> None:
    store = InMemoryDocumentStore()
    event = {"type": "identify", "messageId": "m1", "userId": CARD, "anonymousId": "a1",
             "timestamp": "2026-01-01T00:00:00Z"}  # fmt: skip
    stored = guard().inspect(event)
    hashed = str(stored.event["userId"])
    assert hashed.startswith(HASH_PREFIX)
    repo = ProfileRepository(store)
    repo.record(stored.event)
    sql = ScriptedSql()
    service = PrivacyService(
        settings=unit_settings(pii_hash_key=KEY), documents=store, clock=FakeClock(), sql=sql,
        http=FakeHttpSender(), deleters=lambda: [], without_deletion=lambda: [],
        new_id=lambda: "req-1",
    )  # fmt: skip
    request = service.submit("SUPPRESS_WITH_DELETE", [service.subject("user_id", CARD)])
    assert request.status == DONE
    assert hashed in request.person.values("user_id")
    assert request.person.values("anonymous_id") == ["a1"]
    assert repo.find(("user_id", hashed)) is None and repo.find(("anonymous_id", "a1")) is None
    raw = next(
        p
        for s, p in sql.calls
        if s.startswith("SELECT COUNT(*) AS n FROM `cdp-unit.cdp_raw.events`")
    )
    assert hashed in raw["user_ids"]
    assert request.subjects == ({"type": "user_id", "value": CARD},)
