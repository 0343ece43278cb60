"""What counts as the person in another store's text: a failed event's identifier fields (not
any string equal to one of their values), and in other people's Firestore documents only what
names them unambiguously."""

from __future__ import annotations

import pytest

from shared.governance.privacy import firestore, payload, warehouse
from shared.governance.privacy.audit import Person
from shared.identity.graph import PROFILES
from shared.ports.documents import InMemoryDocumentStore

FAILED = warehouse.Shape("p.cdp_ops.failed_events", {"failed_id": "STRING", "payload": "STRING",
                                                      "message_id": "STRING"})  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("+6281234567890", "081234567890"),  # 0812 3456 7890, as sent in Indonesia
        ("+6281234567890", "6281234567890"),  # +62 812-3456-7890
        ("+447700900123", "07700900123"),
        ("+447700900123", "7700900123"),
        ("+14155550123", "4155550123"),
    ],
)
def test_a_phone_is_looked_for_in_the_forms_it_is_sent_in(stored: str, sent: str) -> None:
    assert sent in payload.phone_forms(stored)


def test_the_failed_events_are_matched_on_identifier_fields_not_on_text() -> None:
    person = Person({"user_id": ["42"], "email": ["josé@example.com"],
                     "phone": ["+6281234567890"]})  # fmt: skip
    params = warehouse.params_of(person)
    where = warehouse.predicate(FAILED, [FAILED], params)
    assert "STRPOS" not in where  # "size":"42" is not the person
    for path in ("$.userId", "$.anonymousId", "$.previousId", "$.traits.email",
                 "$.context.traits.email", "$.context.externalIds", "$.traits.phone"):  # fmt: skip
        assert f"'{path}'" in where
    assert "SAFE.PARSE_JSON(payload)" in where
    assert params["payload_ids"] == ["+6281234567890", "42", "josé@example.com"]
    assert "081234567890" in params["payload_phones"]


def test_no_phone_no_phone_term() -> None:
    where = payload.condition("j", payload.params(Person({"user_id": ["u1"]})))
    assert "@ids" in where and "@phones" not in where


def test_other_profiles_keep_strings_that_merely_equal_a_value() -> None:
    store = InMemoryDocumentStore()
    person = Person({"user_id": ["42"]}, ("p-ada",))
    store.set(PROFILES, "p-ada", {"profile_id": "p-ada", "identifiers": {"user_id": ["42"]}})
    bob = {"profile_id": "p-bob", "traits": {"size": {"value": "42"}},
           "conflicts": [{"identifier": "user_id:42", "with": "p-ada"}]}  # fmt: skip
    store.set(PROFILES, "p-bob", bob)
    firestore.step(store, person)(PROFILES)
    assert store.get(PROFILES, "p-ada") is None
    after = store.get(PROFILES, "p-bob")
    assert after is not None and after["traits"] == {"size": {"value": "42"}}
    assert after["conflicts"] == [{"identifier": firestore.GONE, "with": firestore.GONE}]
