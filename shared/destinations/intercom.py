"""Intercom REST API 2.x: tracks → data events, identifies → contacts, groups → companies.

Intercom's contract (its OpenAPI descriptions, ``Intercom-Version`` 2.16):

- Every request: ``Authorization: Bearer <access token>``, ``Intercom-Version``, JSON.
- ``POST /events``: ``event_name``, ``created_at`` in seconds, ``user_id`` (else ``email``) and a
  flat ``metadata`` of which Intercom keeps the first 10 keys (strings ≤ 255 characters,
  numbers, ``*_date`` Unix times, links). 202 on success, 404 for a user it does not know.
- Intercom knows contacts by its own ids only: ``POST /contacts`` creates one (``external_id`` =
  ``userId``) and answers 409 naming the existing contact's id when there is one;
  ``PUT /contacts/{id}`` updates it; ``POST /companies`` creates or updates a company by
  ``company_id``; ``POST /contacts/{id}/companies`` attaches it.

So every person the message names is first *ensured*: ``POST /contacts`` with only the
identifier, which answers 200 (created) or 409 (exists), both meaning the contact exists, and
both naming its id. A track needs nothing more: its events follow the ensure in the same
message (one extra request per person per message, and correct without any state of ours).
An identify and a group need the id for their next request, which only the answer gives:
their first request is a ``Step`` and ``follow_up(request, answer)`` builds the next one
(identify: ensure → ``PUT /contacts/{id}``; group: ``POST /companies`` → ensure → attach).
Only the last request of a chain carries the event's messageId. A 404 on an event (a contact
deleted or merged meanwhile) retries: the redelivered message ensures the contact again.

Duplicates: Intercom "may" ignore an event with the same contact, name and ``created_at``;
that is best effort and not a key we send, so ``provider_dedup`` is False (the runner's ledger
keeps a replay from sending an event twice).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.destinations.delivery import Outcome
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
    Verdict,
    default_verdict,
)
from shared.envelope import dumps
from shared.ports.http import HttpResponse
from shared.tiering.ga4 import event_time

DEFAULT_ENDPOINT = "https://api.intercom.io"
DEFAULT_VERSION = "2.16"
MAX_METADATA = 10
MAX_TEXT = 255
RATE_WINDOW_SECONDS = 10.0  # Intercom spreads its per-minute limit over 10-second windows
KEY_FORBIDDEN = re.compile(r"[.$~`!@#%^&*'{}|\\\"\x00]")
EXISTING_ID = re.compile(r"id=([A-Za-z0-9_-]+)")
CONTACT_FIELDS = {"email", "name", "phone", "avatar", "firstName", "first_name", "lastName",
                  "last_name", "createdAt", "created_at", "id", "userId", "company"}  # fmt: skip
COMPANY_FIELDS = {"name": "name", "plan": "plan", "industry": "industry", "website": "website"}
COMPANY_NUMBERS = {"employees": "size", "size": "size", "monthly_spend": "monthly_spend"}

ANONYMOUS = "no userId or email: Intercom knows people by user_id or email"
NO_EVENT_NAME = "a track without an event name"
NO_GROUP_ID = "a group call without a groupId"
NOT_SENT = "only tracks, identifies and groups go to Intercom"
ARCHIVED = "the contact is archived in Intercom"
NOT_ENSURED = "Intercom refused to create the contact the event needs"
USER_NOT_FOUND = "Intercom does not know the user yet: retried, which ensures the contact first"


class IntercomSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_INTERCOM_", extra="ignore")

    endpoint: str = DEFAULT_ENDPOINT
    access_token: str = Field(default="", repr=False)
    version: str = DEFAULT_VERSION  # sent as Intercom-Version


@dataclass(frozen=True)
class Step(Request):
    """A request whose answer names the id the next request needs (see ``follow_up``)."""

    then: str = ""  # "update" (a contact), "ensure" (after a company), "attach"
    payload: bytes = b""  # the next request's body, or the company id to attach
    contact: bytes = b""  # the ensure body, for a chain that ensures later
    for_ids: tuple[str, ...] = ()  # the events this chain delivers (refused if it fails)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def _section(container: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value / 1000 if value > 10**11 else value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def identity(event: Event, person: Person) -> dict[str, str] | None:
    """How Intercom finds the person: ``external_id`` = userId, else an email (the event's
    traits, then the profile's)."""
    user = _text(event.get("userId"))
    if user:
        return {"external_id": user}
    for traits in (_section(event, "traits"), _section(_section(event, "context"), "traits"),
                   person.traits):  # fmt: skip
        email = _text(traits.get("email"))
        if email:
            return {"email": email}
    return None


def flat_value(key: str, value: Any, booleans: bool) -> Any:
    """A value Intercom keeps: strings (≤ 255), numbers, Unix seconds for ``*_date``, a rich
    link ``{url, value}`` or an amount ``{amount, currency}``; booleans where the field takes
    them (custom attributes); anything else as text (Intercom stores no nested JSON)."""
    if key.endswith("_date") and _seconds(value) is not None:
        return _seconds(value)
    if isinstance(value, bool):
        return value if booleans else ("true" if value else "false")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, dict) and set(value) in ({"url", "value"}, {"amount", "currency"}):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)[:MAX_TEXT]


def flat(values: Mapping[str, Any], limit: int = 0, booleans: bool = True) -> dict[str, Any]:
    """Keys Intercom accepts (no ``.``, ``$`` and the other characters it forbids), in order,
    at most ``limit`` of them (0: all); empty values left out."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        name = KEY_FORBIDDEN.sub("_", str(key))
        if value is None or name in found or (limit and len(found) >= limit):
            continue
        found[name] = flat_value(name, value, booleans)
    return found


def contact_attributes(traits: Mapping[str, Any]) -> dict[str, Any]:
    """Standard fields (email, name, phone, avatar, signed_up_at) and the rest as custom
    attributes (which Intercom needs defined as data attributes)."""
    first, last = (_text(traits.get(k)) or _text(traits.get(j)) for k, j in
                   (("firstName", "first_name"), ("lastName", "last_name")))  # fmt: skip
    name = _text(traits.get("name")) or " ".join(p for p in (first, last) if p) or None
    found: dict[str, Any] = {k: _text(traits.get(k)) for k in ("email", "phone", "avatar")}
    found["name"] = name
    found["signed_up_at"] = _seconds(traits.get("createdAt") or traits.get("created_at"))
    found = {k: v for k, v in found.items() if v is not None}
    custom = flat({k: v for k, v in traits.items() if k not in CONTACT_FIELDS})
    return {**found, "custom_attributes": custom} if custom else found


def company_body(group_id: str, traits: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"company_id": group_id}
    for ours, theirs in COMPANY_FIELDS.items():
        if _text(traits.get(ours)):
            found[theirs] = _text(traits.get(ours))
    for ours, theirs in COMPANY_NUMBERS.items():
        if isinstance(traits.get(ours), int | float) and not isinstance(traits[ours], bool):
            found.setdefault(theirs, int(traits[ours]))
    created = _seconds(traits.get("createdAt") or traits.get("created_at"))
    if created is not None:
        found["remote_created_at"] = created
    known = {*COMPANY_FIELDS, *COMPANY_NUMBERS, "createdAt", "created_at"}
    custom = flat({k: v for k, v in traits.items() if k not in known})
    return {**found, "custom_attributes": custom} if custom else found


def data_event(event: Event, who: Mapping[str, str], seconds: int) -> dict[str, Any]:
    person = {"user_id": who["external_id"]} if "external_id" in who else {"email": who["email"]}
    found: dict[str, Any] = {"event_name": str(event["event"]), "created_at": seconds, **person}
    metadata = flat(_section(event, "properties"), MAX_METADATA, booleans=False)
    return {**found, "metadata": metadata} if metadata else found


class IntercomTransform(Transform):
    name = "intercom"
    settings_class = IntercomSettings
    event_types = ("track", "identify", "group")
    consent_category = "functional"
    provider_dedup = False  # Intercom's dedup is best effort, on content, not on a key we send

    @property
    def intercom(self) -> IntercomSettings:
        return cast(IntercomSettings, self.settings)

    def missing(self) -> list[str]:
        return [] if self.intercom.access_token else ["CDP_INTERCOM_ACCESS_TOKEN"]

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        prepared = Prepared()
        ensured: dict[bytes, Step] = {}  # per person: the ensure the tracks wait for
        now = self.clock.now()
        for event, person in zip(events, people, strict=True):
            mid, kind, who = str(event.get("messageId")), event.get("type"), identity(event, person)
            if kind not in ("track", "identify", "group"):
                prepared.skipped[mid] = NOT_SENT
            elif who is None:
                prepared.skipped[mid] = ANONYMOUS
            elif kind == "track" and not _text(event.get("event")):
                prepared.refused[mid] = NO_EVENT_NAME
            elif kind == "group" and not _text(event.get("groupId")):
                prepared.refused[mid] = NO_GROUP_ID
            else:
                contact = dumps({"role": "user", **who})
                prepared.requests += self._chain(event, mid, who, contact, ensured, now)
        for step in ensured.values():  # each person's tracks are refused with its ensure
            index = prepared.requests.index(step)
            prepared.requests[index] = _with_ids(step, ensured_ids(prepared.requests, step))
        return prepared

    def _chain(self, event: Event, mid: str, who: dict[str, str], contact: bytes,
               ensured: dict[bytes, Step], now: datetime) -> list[Request]:  # fmt: skip
        if event["type"] == "identify":
            update = dumps(contact_attributes(_section(event, "traits")))
            return [self._step("POST", "/contacts", contact, "update", update, for_ids=(mid,))]
        if event["type"] == "group":
            company = dumps(company_body(str(event["groupId"]), _section(event, "traits")))
            step = self._step("POST", "/companies", company, "ensure", contact=contact)
            return [_with_ids(step, (mid,))]
        seconds = int((event_time(event) or now).timestamp())
        requests: list[Request] = []
        if contact not in ensured:
            ensured[contact] = self._step("POST", "/contacts", contact, "")
            requests.append(ensured[contact])
        body = dumps(data_event(event, who, seconds))
        return [*requests, self._request("POST", "/events", body, (mid,))]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.intercom.access_token}",
                "Intercom-Version": self.intercom.version, "Accept": "application/json",
                "Content-Type": "application/json"}  # fmt: skip

    def _request(self, method: str, path: str, body: bytes, ids: tuple[str, ...]) -> Request:
        url = self.intercom.endpoint.rstrip("/") + path
        return Request(method, url, self._headers(), body, ids)

    def _step(self, method: str, path: str, body: bytes, then: str, payload: bytes = b"",
              contact: bytes = b"", for_ids: tuple[str, ...] = ()) -> Step:  # fmt: skip
        url = self.intercom.endpoint.rstrip("/") + path
        return Step(method, url, self._headers(), body, (), then, payload, contact, for_ids)

    def follow_up(self, request: Request, response: HttpResponse) -> Request | None:
        """The request an answer calls for next (the runner sends it, and its verdict is the
        chain's), or None when the chain is complete or failed."""
        if not isinstance(request, Step) or not request.then:
            return None
        found = _answered_id(response)
        if found is None:
            return None
        if request.then == "update":
            return self._request("PUT", f"/contacts/{found}", request.payload, request.for_ids)
        if request.then == "ensure":
            step = self._step("POST", "/contacts", request.contact, "attach", found.encode())
            return _with_ids(step, request.for_ids)
        attach = dumps({"id": request.payload.decode()})
        return self._request("POST", f"/contacts/{found}/companies", attach, request.for_ids)

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        status, ids = response.status, getattr(request, "for_ids", ())
        if isinstance(request, Step) and request.url.endswith("/contacts") and status == 409:
            if "archived" in _message(response).lower():
                return Verdict(Outcome.PERMANENT, ARCHIVED, {i: ARCHIVED for i in ids})
            return Verdict(Outcome.SENT, "the contact exists")
        if status == 429:
            return Verdict(Outcome.RETRY, "rate limited", retry_after_seconds=self._wait(response))
        if status == 404 and request.url.endswith("/events"):
            return Verdict(Outcome.RETRY, USER_NOT_FOUND)
        found = default_verdict(response)
        if found.outcome is Outcome.PERMANENT and ids:
            reason = f"{NOT_ENSURED}: {_message(response)}"
            return Verdict(Outcome.PERMANENT, reason, {i: reason for i in ids})
        return found

    def _wait(self, response: HttpResponse) -> float:
        """Until X-RateLimit-Reset (Unix seconds), else Retry-After, else one window."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            reset = float(headers["x-ratelimit-reset"]) - self.clock.now().timestamp()
            return max(1.0, reset)
        except (KeyError, ValueError):
            pass
        return default_verdict(response).retry_after_seconds or RATE_WINDOW_SECONDS


def _with_ids(step: Step, ids: tuple[str, ...]) -> Step:
    return Step(step.method, step.url, step.headers, step.body, step.message_ids, step.then,
                step.payload, step.contact, ids)  # fmt: skip


def ensured_ids(requests: Sequence[Request], step: Step) -> tuple[str, ...]:
    """The events of the tracks that follow an ensure (the same person's data events)."""
    person = json.loads(step.body)
    key = (
        ("user_id", person["external_id"])
        if "external_id" in person
        else ("email", person["email"])
    )
    return tuple(m for r in requests if r.url.endswith("/events")
                 and json.loads(r.body).get(key[0]) == key[1] for m in r.message_ids)  # fmt: skip


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _message(response: HttpResponse) -> str:
    body = _json(response.body)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    return response.body[:200].decode(errors="replace")


def _answered_id(response: HttpResponse) -> str | None:
    """Intercom's id of what the answer is about: the created or updated object's ``id``, or the
    existing contact a 409 names (``... already exists with id=<id>``)."""
    if 200 <= response.status < 300:
        body = _json(response.body)
        found = body.get("id") if isinstance(body, dict) else None
        return str(found) if found else None
    if response.status == 409:
        matched = EXISTING_ID.search(_message(response))
        return matched.group(1) if matched else None
    return None


def merge_request(settings: IntercomSettings, lead_id: str, user_id: str) -> Request:
    """``POST /contacts/merge``: a lead (Intercom's id) into a user (Intercom's id), when
    identity merges an anonymous visitor Intercom knew as a lead into a known user."""
    headers = {"Authorization": f"Bearer {settings.access_token}",
               "Intercom-Version": settings.version, "Content-Type": "application/json",
               "Accept": "application/json"}  # fmt: skip
    url = settings.endpoint.rstrip("/") + "/contacts/merge"
    return Request("POST", url, headers, dumps({"from": lead_id, "into": user_id}), ())
