"""Intercom's custom attributes exist before a write sets them: the sender's declaring steps
(their verdicts, a refusal refusing the chain's events, the type each value declares) and the
stand-in's Data Attributes API as Intercom documents it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY
from shared.destinations.intercom import NOT_DECLARED, IntercomSettings, IntercomTransform
from shared.destinations.intercom_fields import data_type
from shared.local.standins.intercom import IntercomStandIn
from shared.local.standins.intercom_attributes import (
    BAD_MODEL,
    BAD_NAME,
    BAD_TYPE,
    FEW_OPTIONS,
    DataAttributes,
)
from shared.ports.clock import FakeClock
from shared.ports.http import HttpResponse

IDENTIFY = {"type": "identify", "messageId": "m-0", "userId": "user-1",
            "traits": {"email": "ana@example.com", "plan": "gold", "churn_risk": True}}  # fmt: skip


def transform() -> IntercomTransform:
    settings = IntercomSettings(access_token="t")
    return IntercomTransform(settings, FakeClock(datetime(2026, 11, 22, tzinfo=UTC)))


def listed(*names: str) -> HttpResponse:
    data = [{"type": "data_attribute", "model": "contact", "name": n} for n in names]
    return HttpResponse(200, {}, json.dumps({"type": "list", "data": data}).encode())


def error(status: int, message: str) -> HttpResponse:
    body = {"type": "error.list", "errors": [{"code": "parameter_invalid", "message": message}]}
    return HttpResponse(status, {}, json.dumps(body).encode())


def test_a_refused_declaration_refuses_the_events_of_its_chain() -> None:
    intercom = transform()
    [listing] = intercom.prepare([IDENTIFY], [NOBODY]).requests
    found = intercom.verdict(listing, error(401, "Access Token Invalid"))
    assert (found.outcome, found.refused) == (
        Outcome.PERMANENT, {"m-0": f"{NOT_DECLARED}: Access Token Invalid"})  # fmt: skip
    create = intercom.follow_up(listing, listed("churn_risk"))
    assert create is not None and json.loads(create.body)["name"] == "plan"
    refused = intercom.verdict(create, error(400, "Data Type isn't an option"))
    assert refused.refused == {"m-0": f"{NOT_DECLARED}: Data Type isn't an option"}
    already = error(400, "You already have 'plan' in your people data.")  # created meanwhile
    assert intercom.verdict(create, already).outcome is Outcome.SENT


def test_when_every_attribute_exists_the_listing_leads_to_the_write() -> None:
    intercom = transform()
    [listing] = intercom.prepare([IDENTIFY], [NOBODY]).requests
    write = intercom.follow_up(listing, listed("plan", "churn_risk"))
    assert write is not None and (write.method, write.url) == (
        "POST", "https://api.intercom.io/contacts")  # fmt: skip


def test_an_identify_without_custom_attributes_lists_nothing() -> None:
    plain = {**IDENTIFY, "traits": {"email": "ana@example.com", "name": "Ana"}}
    [step] = transform().prepare([plain], [NOBODY]).requests
    assert (step.method, step.url) == ("POST", "https://api.intercom.io/contacts")


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [("churn_risk", True, "boolean"), ("kyc_level", 2, "integer"), ("spend", 12.5, "float"),
     ("plan", "gold", "string"), ("renewal_date", 1767323045, "date"),
     ("link", {"url": "https://x", "value": "x"}, "string")],
)  # fmt: skip
def test_the_type_an_attribute_is_declared_with(key: str, value: Any, kind: str) -> None:
    assert data_type(key, value) == kind


CREATIONS: list[tuple[dict[str, Any], int, str]] = [
    ({"name": "churn_risk", "model": "contact", "data_type": "boolean"}, 200, ""),
    ({"name": "Mithril Shirt", "model": "company", "data_type": "string"}, 200, ""),
    ({"name": "churn_risk", "model": "contact", "data_type": "boolean"}, 400,
     "You already have 'churn_risk' in your people data."),
    ({"name": "churn_risk", "model": "company", "data_type": "boolean"}, 200, ""),  # per model
    ({"name": "!nv@l!d n@me", "model": "contact", "data_type": "string"}, 400, BAD_NAME),
    ({"name": "x", "model": "conversation", "data_type": "string"}, 400, BAD_MODEL),
    ({"name": "x", "model": "contact", "data_type": "mithril"}, 400, BAD_TYPE),
    ({"name": "x", "model": "contact", "data_type": "options", "options": [{"value": "a"}]},
     400, FEW_OPTIONS),
    ({"name": "email", "model": "contact", "data_type": "string"}, 400,
     "'Email' is one of our standard attributes"),
]  # fmt: skip


def test_the_stand_in_creates_data_attributes_as_intercom_documents() -> None:
    attributes = DataAttributes()
    for payload, status, message in CREATIONS:
        found, answer = attributes.create(payload)
        assert found == status, payload
        if status == 200:
            assert answer["full_name"] == f"custom_attributes.{payload['name']}"
            assert (answer["custom"], answer["data_type"]) == (True, payload["data_type"])
        else:
            assert str(answer).startswith(message), answer
    _, listing = attributes.listing("contact")
    names = {a["name"]: a["custom"] for a in listing["data"]}
    assert names["churn_risk"] is True and names["email"] is False
    assert "Mithril Shirt" not in names
    assert attributes.listing("ticket")[0] == 400


def test_a_race_to_create_an_attribute_is_not_a_refusal() -> None:
    standin = IntercomStandIn(access_token="t")
    headers = {"authorization": "Bearer t", "intercom-version": "2.16"}
    body = json.dumps({"name": "plan", "model": "contact", "data_type": "string"}).encode()
    first, _ = standin.receive("POST", "/data_attributes", headers, body)
    second, _ = standin.receive("POST", "/data_attributes", headers, body)
    assert (first.status, second.status) == (200, 400) and standin.refused == []
    unknown = json.dumps({"custom_attributes": {"vip": True}}).encode()
    created, _ = standin.receive("POST", "/contacts", headers,
                                 json.dumps({"external_id": "u1"}).encode())  # fmt: skip
    refused, _ = standin.receive("PUT", f"/contacts/{created.body['id']}", headers, unknown)
    assert refused.status == 400 and [r["reason"] for r in standin.refused] == [
        "Custom attribute 'vip' does not exist"]  # fmt: skip
