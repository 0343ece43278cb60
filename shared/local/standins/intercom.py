"""A local stand-in for Intercom's REST API 2.x, as its OpenAPI descriptions document it,
written from those rather than from the sender's code. It keeps contacts, companies and
attachments, so answers depend on what came before, as Intercom's do:

- every request: ``Authorization: Bearer <token>`` (401 ``unauthorized``), an
  ``Intercom-Version`` Intercom knows (400 ``intercom_version_invalid``), JSON bodies;
- ``POST /contacts`` (``role`` user or lead, an ``external_id`` or ``email``): 200 with the
  contact, or 409 ``conflict`` "A contact matching those details already exists with id=<id>";
- ``PUT /contacts/{id}``: 404 for an unknown id; ``email``/``name``/``phone`` strings,
  ``custom_attributes`` flat (strings ≤ 255, numbers, booleans) and declared, each of its
  declared type (``GET``/``POST /data_attributes``: ``intercom_attributes.py``), as on
  ``POST /contacts`` and ``POST /companies``;
- ``POST /events``: ``event_name``, ``created_at`` in seconds (milliseconds are refused),
  ``user_id``, ``email`` or ``id`` of a known contact (404 "User Not Found"), ``metadata`` flat,
  at most 10 keys (Intercom drops the rest: a contract violation here), keys without ``.``,
  ``$`` and the other forbidden characters, strings ≤ 255; 202 with no body;
- ``POST /companies`` (``company_id`` required): create or update; ``POST
  /contacts/{id}/companies`` (``id`` of a known company); ``POST /contacts/merge`` (``from`` a
  lead, ``into`` a user);
- ``POST /contacts/search``: ``query`` a filter ``{field, operator, value}`` or a group
  ``{operator: AND|OR, value: [...]}`` (at most 15 filters a group, 2 levels), ``pagination``
  ``per_page`` ≤ 150; answers ``{"type": "list", "data", "total_count", "pages"}``;
- ``DELETE /contacts/{id}``: 404 for an unknown id, else ``{"id", "external_id", "type":
  "contact", "deleted": true}`` (listed in ``deletions``, not among delivered events).

A 409 "already exists" is Intercom's normal answer to a contact that exists, which the sender
relies on: it is answered, and not listed among refusals; so is the 400 "You already have" to
a data attribute two deliveries created at once. Delivered: data events (``key`` =
contact, name and ``created_at``: what Intercom identifies an event by), contact updates
(``contact:<external id or email>``), attachments (``company:<company_id>:<contact>``), merges.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from shared.local.standins import deletions
from shared.local.standins.base import Reply
from shared.local.standins.intercom_attributes import ALREADY, DataAttributes
from shared.local.standins.intercom_search import search

LOCAL_ACCESS_TOKEN = "local-intercom-token"
VERSIONS = frozenset({*(f"1.{n}" for n in range(5)), *(f"2.{n}" for n in range(17)), "Unstable"})
MAX_METADATA = 10
MAX_TEXT = 255
EARLIEST_MS = 10**11  # a created_at this large is milliseconds, not seconds
FORBIDDEN_KEY = re.compile(r"[.$~`!@#%^&*'{}|\\\"\x00]")

UNAUTHORIZED = "Access Token Invalid"
BAD_VERSION = "Intercom-Version is missing or unknown"
NOT_JSON = "the body is not a JSON object"
NOT_FOUND = "no such Intercom endpoint"
NO_IDENTIFIER = "a contact needs an external_id or an email"
BAD_ROLE = "role is neither user nor lead"
EXISTS = "A contact matching those details already exists with id={id}"
NO_CONTACT = "Contact Not Found"
BAD_ATTRIBUTE = "custom_attributes must be flat: strings up to 255, numbers, booleans"
NO_EVENT_NAME = "event_name is required"
BAD_CREATED_AT = "created_at must be a Unix timestamp in seconds"
NO_USER = "User Not Found"
BAD_METADATA = "metadata must be flat: at most 10 keys, no forbidden characters, strings ≤ 255"
NO_COMPANY_ID = "company_id is required"
NO_COMPANY = "Company Not Found"
BAD_MERGE = "merge needs from (a lead) and into (a user)"


def _error(status: int, code: str, message: str) -> Reply:
    body = {"type": "error.list", "request_id": "local", "errors": [{"code": code,
            "message": message}]}  # fmt: skip
    return Reply(status, body, reason=message)


def _answer(status: int, found: Any) -> Reply:
    """A data attributes or search answer: the object, or Intercom's error list."""
    return Reply(status, found) if status < 300 else _error(status, "parameter_invalid", found)


def _text(value: Any, limit: int = MAX_TEXT) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _flat(values: Any, limit: int | None, booleans: bool) -> bool:
    if not isinstance(values, dict) or (limit is not None and len(values) > limit):
        return False
    for key, value in values.items():
        if FORBIDDEN_KEY.search(key):
            return False
        scalar = isinstance(value, int | float) and (booleans or not isinstance(value, bool))
        link = isinstance(value, dict) and set(value) in ({"url", "value"}, {"amount", "currency"})
        if not (scalar or link or (isinstance(value, str) and len(value) <= MAX_TEXT)):
            return False
    return True


class IntercomStandIn(deletions.DeletingStandIn):
    name = "intercom"

    def __init__(
        self, access_token: str = LOCAL_ACCESS_TOKEN, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.access_token = access_token
        self.contacts: dict[str, dict[str, Any]] = {}  # Intercom id → contact
        self.companies: dict[str, dict[str, Any]] = {}  # company_id → company
        self.attributes = DataAttributes()  # custom data attributes, per model
        self._ids = itertools.count(1)

    def receive(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Reply, float]:
        reply, wait = super().receive(method, path, headers, body)
        exists = reply.status == 409 and reply.reason.startswith(EXISTS[:20])
        if exists or (reply.status == 400 and reply.reason.startswith(ALREADY)):
            with self._lock:  # answers the sender relies on (the latter: a creation raced)
                self.refused = [r for r in self.refused if r["reason"] != reply.reason]
        return reply, wait

    def is_deletion(self, method: str, path: str) -> bool:
        return method == "DELETE"  # the contacts deleted

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(401, "unauthorized", UNAUTHORIZED)
        if headers.get("intercom-version") not in VERSIONS:
            return _error(400, "intercom_version_invalid", BAD_VERSION)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _error(400, "parameter_invalid", NOT_JSON)
        route, _, query = path.partition("?")
        parts = route.strip("/").split("/")
        with self._lock:
            return self._route(method, parts, payload, parse_qs(query))

    def _route(
        self, method: str, parts: list[str], payload: dict[str, Any], query: dict[str, list[str]]
    ) -> Reply:
        match method, parts:
            case "GET", ["data_attributes"]:
                return _answer(*self.attributes.listing(query.get("model", [None])[0]))
            case "POST", ["data_attributes"]:
                return _answer(*self.attributes.create(payload))
            case "POST", ["contacts"]:
                return self._create(payload)
            case "POST", ["contacts", "merge"]:
                return self._merge(payload)
            case "POST", ["contacts", "search"]:
                return _answer(*search(self.contacts.values(), payload))
            case "DELETE", ["contacts", contact_id]:
                return self._delete(contact_id)
            case "PUT", ["contacts", contact_id]:
                return self._update(contact_id, payload)
            case "POST", ["contacts", contact_id, "companies"]:
                return self._attach(contact_id, payload)
            case "POST", ["events"]:
                return self._event(payload)
            case "POST", ["companies"]:
                return self._company(payload)
        return _error(404, "not_found", NOT_FOUND)

    def _find(self, external_id: Any = None, email: Any = None) -> dict[str, Any] | None:
        for contact in self.contacts.values():
            if (external_id and contact.get("external_id") == external_id) or (
                email and contact.get("email") == email
            ):
                return contact
        return None

    def _create(self, payload: dict[str, Any]) -> Reply:
        if payload.get("role", "user") not in ("user", "lead"):
            return _error(400, "parameter_invalid", BAD_ROLE)
        external_id, email = payload.get("external_id"), payload.get("email")
        if not (_text(external_id) or _text(email)):
            return _error(400, "parameter_not_found", NO_IDENTIFIER)
        problem = self._undeclared("contact", payload)
        if problem:
            return problem
        existing = self._find(external_id, email)
        if existing is not None:
            return _error(409, "conflict", EXISTS.format(id=existing["id"]))
        contact = {"type": "contact", "id": f"c{next(self._ids):06d}",
                   "role": payload.get("role", "user"), "external_id": external_id,
                   "email": email, "custom_attributes": {}, "companies": []}  # fmt: skip
        self.contacts[contact["id"]] = contact
        return Reply(200, contact)

    def _update(self, contact_id: str, payload: dict[str, Any]) -> Reply:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return _error(404, "not_found", NO_CONTACT)
        for field in ("email", "name", "phone", "avatar"):
            if field in payload and not _text(payload[field]):
                return _error(400, "parameter_invalid", f"{field} is not a string")
        problem = self._undeclared("contact", payload)
        if problem:
            return problem
        attributes = {**contact["custom_attributes"], **payload.pop("custom_attributes", {})}
        contact.update({**payload, "custom_attributes": attributes})
        who = contact.get("external_id") or contact.get("email")
        return Reply(200, contact, delivered=({"key": f"contact:{who}", **payload},))

    def _undeclared(self, model: str, payload: dict[str, Any]) -> Reply | None:
        """Intercom's 400 for custom attributes that are not flat, not declared, or not of
        their declared type."""
        values = payload.get("custom_attributes", {})
        if not _flat(values, None, booleans=True):
            return _error(400, "parameter_invalid", BAD_ATTRIBUTE)
        problem = self.attributes.problem(model, values)
        return _error(400, "parameter_invalid", problem) if problem else None

    def _event(self, payload: dict[str, Any]) -> Reply:
        if not _text(payload.get("event_name")):
            return _error(400, "parameter_not_found", NO_EVENT_NAME)
        created = payload.get("created_at")
        if not isinstance(created, int) or isinstance(created, bool) or created >= EARLIEST_MS:
            return _error(400, "parameter_invalid", BAD_CREATED_AT)
        if "metadata" in payload and not _flat(payload["metadata"], MAX_METADATA, False):
            return _error(400, "parameter_invalid", BAD_METADATA)
        contact = self.contacts.get(str(payload.get("id"))) or self._find(
            payload.get("user_id"), payload.get("email")
        )
        if contact is None:
            return _error(404, "not_found", NO_USER)
        who = contact.get("external_id") or contact.get("email")
        key = f"{who}|{payload['event_name']}|{created}"
        return Reply(202, b"", delivered=({"key": key, **payload},))

    def _company(self, payload: dict[str, Any]) -> Reply:
        company_id = str(payload.get("company_id") or "")
        if not _text(company_id):
            return _error(400, "parameter_not_found", NO_COMPANY_ID)
        problem = self._undeclared("company", payload)
        if problem:
            return problem
        company = self.companies.setdefault(
            company_id, {"type": "company", "id": f"k{next(self._ids):06d}"}
        )
        company.update(payload)
        return Reply(200, company)

    def _attach(self, contact_id: str, payload: dict[str, Any]) -> Reply:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return _error(404, "not_found", NO_CONTACT)
        company = next((c for c in self.companies.values() if c["id"] == payload.get("id")), None)
        if company is None:
            return _error(404, "company_not_found", NO_COMPANY)
        if company["id"] not in contact["companies"]:
            contact["companies"].append(company["id"])
        who = contact.get("external_id") or contact.get("email")
        key = f"company:{company['company_id']}:{who}"
        return Reply(200, company, delivered=({"key": key},))

    def _merge(self, payload: dict[str, Any]) -> Reply:
        lead = self.contacts.get(str(payload.get("from")))
        user = self.contacts.get(str(payload.get("into")))
        if not lead or not user or lead["role"] != "lead" or user["role"] != "user":
            return _error(400, "parameter_invalid", BAD_MERGE)
        del self.contacts[lead["id"]]
        return Reply(200, user, delivered=({"key": f"merge:{lead['id']}:{user['id']}"},))

    def _delete(self, contact_id: str) -> Reply:
        contact = self.contacts.pop(contact_id, None)
        if contact is None:
            return _error(404, "not_found", NO_CONTACT)
        answer = {"id": contact_id, "external_id": contact.get("external_id"),
                  "type": "contact", "deleted": True}  # fmt: skip
        call = deletions.deletion(f"deletion:{contact_id}", contact=contact_id,
                                  external_id=contact.get("external_id"),
                                  email=contact.get("email"))  # fmt: skip
        return Reply(200, answer, delivered=(call,))


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to deliver here (the stand-in's default token)."""
    return {"CDP_INTERCOM_ENDPOINT": url, "CDP_INTERCOM_ACCESS_TOKEN": LOCAL_ACCESS_TOKEN}
