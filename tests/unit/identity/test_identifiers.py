"""Which identifiers an event carries, normalised, with blocked values dropped."""

from __future__ import annotations

from typing import Any

import pytest

from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier, identifiers_of

CONFIG = IdentityConfig(phone_region="GB")


def ids(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(i) for i in identifiers_of(event, CONFIG)]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"userId": "u1", "anonymousId": "a1"}, [("user_id", "u1"), ("anonymous_id", "a1")]),
        ({"userId": 42}, [("user_id", "42")]),
        ({"userId": True, "anonymousId": {"x": 1}}, []),
        ({"traits": {"email": "  Ada@Example.COM "}}, [("email", "ada@example.com")]),
        ({"context": {"traits": {"email": "ada@example.com"}}}, [("email", "ada@example.com")]),
        ({"traits": {"email": "not-an-email"}}, []),
        ({"traits": {"phone": "07700 900123"}}, [("phone", "+447700900123")]),
        ({"traits": {"phone": "+1 (415) 555-2671"}}, [("phone", "+14155552671")]),
        ({"traits": {"phone": "call me"}}, []),
        ({"context": {"device": {"id": "DEV-1"}}}, [("device_id", "dev-1")]),
        (
            {"context": {"device": {"advertisingId": "AB-CD", "adTrackingEnabled": True}}},
            [("advertising_id", "ab-cd")],
        ),
        ({"context": {"device": {"advertisingId": "AB-CD", "adTrackingEnabled": False}}}, []),
        (
            {"integrations": {"Google Analytics 4": {"clientId": "123.456"}}},
            [("ga_client_id", "123.456")],
        ),
        (
            {"context": {"externalIds": [{"id": "b-9", "type": "Braze ID"}, {"id": "x@y.io"}]}},
            [("braze_id", "b-9")],
        ),
        (
            {"context": {"externalIds": [{"id": "X@Y.io", "type": "email"}]}},
            [("email", "x@y.io")],
        ),
    ],
)
def test_identifiers_are_read_and_normalised(
    event: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert ids(event) == expected


@pytest.mark.parametrize(
    "value",
    ["null", "undefined", "0", "-1", "anonymous", "[object Object]", "", "  ", "000000", "0-0-0"],
)
def test_blocked_values_never_become_identifiers(value: str) -> None:
    assert ids({"userId": value, "anonymousId": value}) == []


def test_per_type_blocked_values_come_from_configuration() -> None:
    config = IdentityConfig.model_validate({"types": {"user_id": {"blocked": ["guest"]}}})
    assert identifiers_of({"userId": "GUEST", "anonymousId": "guest"}, config) == [
        Identifier("anonymous_id", "guest")
    ]


def test_identifiers_come_highest_priority_first_and_once() -> None:
    event = {
        "anonymousId": "a1",
        "traits": {"email": "x@y.io"},
        "context": {"traits": {"email": "X@y.io"}},
        "userId": "u1",
    }
    assert ids(event) == [("user_id", "u1"), ("email", "x@y.io"), ("anonymous_id", "a1")]


def test_identifier_keys_and_doc_ids() -> None:
    identifier = Identifier.parse("email:a/b@c.de")
    assert identifier == Identifier("email", "a/b@c.de")
    assert identifier.key == "email:a/b@c.de" and "/" not in identifier.doc_id
    with pytest.raises(ValueError):
        Identifier.parse("no-type")


def test_values_too_long_for_a_document_id_are_dropped() -> None:
    assert ids({"userId": "u" * 513, "anonymousId": "a" * 512}) == [("anonymous_id", "a" * 512)]
