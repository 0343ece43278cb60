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
Custom attributes (a contact's or a company's) must exist in Intercom before a write sets them
(API 2.0 on: "Custom Data Attributes can only be created through the Data Attributes API"), so
a chain that sets some starts by listing them (``GET /data_attributes?model=...``) and creates
the missing ones (``POST /data_attributes`` with the type of the value, ``intercom_fields``)
before its first write, so none is refused for an attribute Intercom has not seen (e.g. an
audience's ``churn_risk``). What the listings and creations tell is kept for ten minutes per
instance (``intercom_declared``): a chain whose attributes are all known starts at its write.
A write refused because an attribute "does not exist" (archived meanwhile) forgets them and
retries the message, whose next attempt lists again.
Only the last request of a chain carries the event's messageId. A 404 on an event (a contact
deleted or merged meanwhile) retries: the redelivered message ensures the contact again.

Duplicates: Intercom "may" ignore an event with the same contact, name and ``created_at``;
that is best effort and not a key we send, so ``provider_dedup`` is False (the runner's ledger
keeps a replay from sending an event twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

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
from shared.destinations.intercom_answers import answered_id, declared, message_of
from shared.destinations.intercom_declared import DeclaredAttributes, unknown_attribute
from shared.destinations.intercom_fields import (
    company_body,
    contact_attributes,
    data_event,
    data_type,
    identity,
    section,
    text_of,
)
from shared.envelope import dumps
from shared.ports.clock import Clock
from shared.ports.http import HttpResponse
from shared.tiering.ga4 import event_time

DEFAULT_ENDPOINT = "https://api.intercom.io"
DEFAULT_VERSION = "2.16"
RATE_WINDOW_SECONDS = 10.0  # Intercom spreads its per-minute limit over 10-second windows
DECLARING = ("declare", "create")  # the steps that make a chain's custom attributes exist
ALREADY = "You already have"  # Intercom's 400 to creating a data attribute that exists

ANONYMOUS = "no userId or email: Intercom knows people by user_id or email"
NO_EVENT_NAME = "a track without an event name"
NO_GROUP_ID = "a group call without a groupId"
NOT_SENT = "only tracks, identifies and groups go to Intercom"
ARCHIVED = "the contact is archived in Intercom"
NOT_ENSURED = "Intercom refused to create the contact the event needs"
NOT_DECLARED = "Intercom refused to list or create the custom attributes the event sets"
USER_NOT_FOUND = "Intercom does not know the user yet: retried, which ensures the contact first"
STALE_ATTRIBUTES = "a custom attribute known a while ago no longer exists: retried, listing them"


class IntercomSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_INTERCOM_", extra="ignore")

    endpoint: str = DEFAULT_ENDPOINT
    access_token: str = Field(default="", repr=False)
    version: str = DEFAULT_VERSION  # sent as Intercom-Version


@dataclass(frozen=True)
class Step(Request):
    """A request whose answer decides the next request (see ``follow_up``)."""

    then: str = ""  # "update" (a contact), "ensure" (after a company), "attach", or DECLARING
    payload: bytes = b""  # the next request's body, or the company id to attach
    contact: bytes = b""  # the ensure body, for a chain that ensures later
    for_ids: tuple[str, ...] = ()  # the events this chain delivers (refused if it fails)
    after: Step | None = None  # declaring: the chain's first write, once its attributes exist
    model: str = ""  # declaring: "contact" or "company"
    pending: tuple[tuple[str, str], ...] = ()  # declaring: (name, data type) to make exist
    cached: str = ""  # a write whose model's attributes were known without listing them


class IntercomTransform(Transform):
    name = "intercom"
    settings_class = IntercomSettings
    event_types = ("track", "identify", "group")
    consent_category = "functional"
    provider_dedup = False  # Intercom's dedup is best effort, on content, not on a key we send

    def __init__(self, settings: DestinationSettings, clock: Clock) -> None:
        super().__init__(settings, clock)
        self.declared = DeclaredAttributes(clock)  # prepare skips the listings it makes moot

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
            elif kind == "track" and not text_of(event.get("event")):
                prepared.refused[mid] = NO_EVENT_NAME
            elif kind == "group" and not text_of(event.get("groupId")):
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
            fields = contact_attributes(section(event, "traits"))
            step = self._step("POST", "/contacts", contact, "update", dumps(fields), for_ids=(mid,))
            return [self._declared(step, "contact", fields)]
        if event["type"] == "group":
            fields = company_body(str(event["groupId"]), section(event, "traits"))
            step = self._step("POST", "/companies", dumps(fields), "ensure", contact=contact)
            return [self._declared(_with_ids(step, (mid,)), "company", fields)]
        seconds = int((event_time(event) or now).timestamp())
        requests: list[Request] = []
        if contact not in ensured:
            ensured[contact] = self._step("POST", "/contacts", contact, "")
            requests.append(ensured[contact])
        body = dumps(data_event(event, who, seconds))
        return [*requests, self._request("POST", "/events", body, (mid,))]

    def _declared(self, write: Step, model: str, fields: Mapping[str, Any]) -> Step:
        """``write`` itself, or, when it sets custom attributes, the listing of the model's data
        attributes that leads to it (creating the missing ones first)."""
        custom = fields.get("custom_attributes") or {}
        if not custom:
            return write
        if self.declared.known(model, custom):
            return replace(write, cached=model)
        types = tuple((name, data_type(name, value)) for name, value in custom.items())
        listing = self._step("GET", f"/data_attributes?model={quote(model)}", b"", "declare")
        return replace(listing, for_ids=write.for_ids, after=write, model=model, pending=types)

    def _declaring(self, step: Step, response: HttpResponse) -> Request | None:
        """After the listing, the first missing attribute's creation; after a creation, the
        next one's; once none is missing, the chain's first write."""
        missing = step.pending
        if step.then == "create":  # made, or there already: either way it exists
            self.declared.exists(step.model, str(json.loads(step.body)["name"]))
        if step.then == "declare":
            known = declared(response, step.model)
            self.declared.listed(step.model, known)
            missing = tuple((name, kind) for name, kind in step.pending if name not in known)
        if not missing:
            return step.after
        (name, kind), rest = missing[0], missing[1:]
        body = dumps({"name": name, "model": step.model, "data_type": kind})
        create = self._step("POST", "/data_attributes", body, "create")
        return replace(create, for_ids=step.for_ids, after=step.after, model=step.model,
                       pending=rest)  # fmt: skip

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
        if request.then in DECLARING:
            return self._declaring(request, response)
        found = answered_id(response)
        if found is None:
            return None
        if request.then == "update":
            put = self._request("PUT", f"/contacts/{found}", request.payload, request.for_ids)
            return Step(put.method, put.url, put.headers, put.body, put.message_ids,
                        cached=request.cached)  # fmt: skip
        if request.then == "ensure":
            step = self._step("POST", "/contacts", request.contact, "attach", found.encode())
            return _with_ids(step, request.for_ids)
        attach = dumps({"id": request.payload.decode()})
        return self._request("POST", f"/contacts/{found}/companies", attach, request.for_ids)

    def verdict(self, request: Request, response: HttpResponse) -> Verdict:
        status, ids = response.status, getattr(request, "for_ids", ())
        if isinstance(request, Step) and request.url.endswith("/contacts") and status == 409:
            if "archived" in message_of(response).lower():
                return Verdict(Outcome.PERMANENT, ARCHIVED, {i: ARCHIVED for i in ids})
            return Verdict(Outcome.SENT, "the contact exists")
        declaring = isinstance(request, Step) and request.then in DECLARING
        if declaring and status == 400 and ALREADY in message_of(response):
            return Verdict(Outcome.SENT, "the data attribute exists")  # created meanwhile
        if status == 400 and unknown_attribute(message_of(response)):
            cached = request.cached if isinstance(request, Step) else ""
            for model in (cached,) if cached else ("contact", "company"):
                self.declared.forget(model)
            if cached:  # the cache was wrong, not the event: the retry lists them
                return Verdict(Outcome.RETRY, STALE_ATTRIBUTES)
        if status == 429:
            return Verdict(Outcome.RETRY, "rate limited", retry_after_seconds=self._wait(response))
        if status == 404 and request.url.endswith("/events"):
            return Verdict(Outcome.RETRY, USER_NOT_FOUND)
        found = default_verdict(response)
        if found.outcome is Outcome.PERMANENT and ids:
            reason = f"{NOT_DECLARED if declaring else NOT_ENSURED}: {message_of(response)}"
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
    return replace(step, for_ids=ids)


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


def merge_request(settings: IntercomSettings, lead_id: str, user_id: str) -> Request:
    """``POST /contacts/merge``: a lead (Intercom's id) into a user (Intercom's id), when
    identity merges an anonymous visitor Intercom knew as a lead into a known user."""
    headers = {"Authorization": f"Bearer {settings.access_token}",
               "Intercom-Version": settings.version, "Content-Type": "application/json",
               "Accept": "application/json"}  # fmt: skip
    url = settings.endpoint.rstrip("/") + "/contacts/merge"
    return Request("POST", url, headers, dumps({"from": lead_id, "into": user_id}), ())
