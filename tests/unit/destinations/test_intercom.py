"""Intercom: the mapping against Intercom's documented contract, the chains that need Intercom's
own ids (follow_up), the verdicts on its answers, and everything sent for real to the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Person, Request
from shared.destinations.intercom import (
    ANONYMOUS,
    ARCHIVED,
    NO_EVENT_NAME,
    NO_GROUP_ID,
    USER_NOT_FOUND,
    IntercomSettings,
    IntercomTransform,
    Step,
    merge_request,
)
from shared.local.standins import intercom as standin_module
from shared.local.standins.intercom import (
    BAD_CREATED_AT,
    BAD_METADATA,
    BAD_VERSION,
    NO_IDENTIFIER,
    NO_USER,
    UNAUTHORIZED,
    IntercomStandIn,
)
from shared.ports.clock import FakeClock
from shared.ports.http import HttpRequest, HttpResponse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WHEN = "2026-11-22T11:59:30.250Z"
WHEN_S = 1_795_348_770
TOKEN = "t-intercom"


def transform(**overrides: Any) -> IntercomTransform:
    return IntercomTransform(IntercomSettings(access_token=TOKEN, **overrides), FakeClock(NOW))


def event(kind: str = "track", n: int = 0, **fields: Any) -> dict[str, Any]:
    base = {"type": kind, "messageId": f"m-{n}", "timestamp": WHEN, "userId": "user-1",
            "anonymousId": "anon-1"}  # fmt: skip
    if kind == "track":
        base["event"] = "card_activated"
    return {**base, **fields}


def bodies(requests: list[Request]) -> list[tuple[str, str, Any]]:
    return [(r.method, r.url.removeprefix("https://api.intercom.io"), json.loads(r.body))
            for r in requests]  # fmt: skip


def test_a_persons_tracks_follow_one_contact_ensure() -> None:
    events = [event(n=0), event(n=1, event="card_frozen", properties={"reason": "lost"}),
              event(n=2, userId="user-2")]  # fmt: skip
    requests = transform().prepare(events, [NOBODY] * 3).requests
    assert bodies(requests) == [
        ("POST", "/contacts", {"role": "user", "external_id": "user-1"}),
        ("POST", "/events", {"event_name": "card_activated", "created_at": WHEN_S,
                             "user_id": "user-1"}),
        ("POST", "/events", {"event_name": "card_frozen", "created_at": WHEN_S,
                             "user_id": "user-1", "metadata": {"reason": "lost"}}),
        ("POST", "/contacts", {"role": "user", "external_id": "user-2"}),
        ("POST", "/events", {"event_name": "card_activated", "created_at": WHEN_S,
                             "user_id": "user-2"}),
    ]  # fmt: skip
    ensure = requests[0]
    assert isinstance(ensure, Step) and ensure.message_ids == ()
    assert ensure.for_ids == ("m-0", "m-1")
    assert [r.message_ids for r in requests[1:]] == [("m-0",), ("m-1",), (), ("m-2",)]
    assert ensure.headers == {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.16",
                              "Accept": "application/json",
                              "Content-Type": "application/json"}  # fmt: skip


@pytest.mark.parametrize(
    ("properties", "metadata"),
    [
        ({"amount": 12.5, "note": "x" * 300}, {"amount": 12.5, "note": "x" * 255}),
        ({f"k{i}": i for i in range(12)}, {f"k{i}": i for i in range(10)}),
        ({"a.b": 1, "$c": 2, "ok": True}, {"a_b": 1, "_c": 2, "ok": "true"}),
        ({"nested": {"x": 1}, "tags": ["a"]}, {"nested": '{"x":1}', "tags": '["a"]'}),
        ({"price": {"amount": 999, "currency": "eur"}, "renewal_date": "2026-12-01T00:00:00Z",
          "gone": None},
         {"price": {"amount": 999, "currency": "eur"}, "renewal_date": 1796083200}),
    ],
)  # fmt: skip
def test_metadata_is_flat_and_within_intercoms_limits(
    properties: dict[str, Any], metadata: dict[str, Any]
) -> None:
    [_, sent] = transform().prepare([event(properties=properties)], [NOBODY]).requests
    assert json.loads(sent.body)["metadata"] == metadata


def test_without_a_user_id_the_email_finds_the_person_else_the_event_is_skipped() -> None:
    anonymous = event(userId=None, context={"traits": {"email": "ana@example.com"}})
    [ensure, sent] = transform().prepare([anonymous], [NOBODY]).requests
    assert json.loads(ensure.body) == {"role": "user", "email": "ana@example.com"}
    assert json.loads(sent.body)["email"] == "ana@example.com"
    known = Person(profile_id="p-1", traits={"email": "bo@example.com"})
    [ensure, _] = transform().prepare([event(userId=None)], [known]).requests
    assert json.loads(ensure.body)["email"] == "bo@example.com"
    prepared = transform().prepare([event(userId=None, n=1), event(event="", n=2),
                                    event("group", n=3)], [NOBODY] * 3)  # fmt: skip
    assert prepared.skipped == {"m-1": ANONYMOUS}
    assert prepared.refused == {"m-2": NO_EVENT_NAME, "m-3": NO_GROUP_ID}


def contact_answer(status: int = 200, contact_id: str = "c42") -> HttpResponse:
    if status == 409:
        message = f"A contact matching those details already exists with id={contact_id}"
        return HttpResponse(409, {}, json.dumps({"type": "error.list", "errors": [
            {"code": "conflict", "message": message}]}).encode())  # fmt: skip
    return HttpResponse(status, {}, json.dumps({"type": "contact", "id": contact_id}).encode())


IDENTIFY = event("identify", traits={"email": "ana@example.com", "firstName": "Ana",
                                     "lastName": "Lima", "phone": "+4915112345678",
                                     "createdAt": "2026-01-02T03:04:05Z", "plan": "gold",
                                     "kyc.level": 2, "vip": True})  # fmt: skip


def listed(*names: str) -> HttpResponse:
    data = [{"type": "data_attribute", "model": "contact", "name": n} for n in names]
    return HttpResponse(200, {}, json.dumps({"type": "list", "data": data}).encode())


ALREADY = HttpResponse(400, {}, json.dumps({"type": "error.list", "errors": [
    {"code": "parameter_invalid", "message": "You already have 'x' in your people data."}]}
).encode())  # fmt: skip


def declared_first(
    intercom: IntercomTransform, requests: list[Request], model: str, missing: list[Any]
) -> Request:
    """A chain that sets custom attributes lists the model's, creates those Intercom lacks
    (``plan`` exists, as listed; one creation is answered "already have": created meanwhile),
    then makes its first write, which this returns."""
    [listing] = requests
    assert isinstance(listing, Step) and (listing.method, listing.body) == ("GET", b"")
    assert listing.url == f"https://api.intercom.io/data_attributes?model={model}"
    assert listing.message_ids == () and listing.for_ids == ("m-0",)
    step = intercom.follow_up(listing, listed("plan", "elsewhere"))
    for n, (name, kind) in enumerate(missing):
        assert isinstance(step, Step) and (step.method, step.message_ids) == ("POST", ())
        assert step.url == "https://api.intercom.io/data_attributes"
        assert json.loads(step.body) == {"name": name, "model": model, "data_type": kind}
        answer = ALREADY if n == 0 else HttpResponse(200, {}, b'{"id": 7}')
        assert intercom.verdict(step, answer).outcome is Outcome.SENT
        step = intercom.follow_up(step, answer)
    assert step is not None
    return step


@pytest.mark.parametrize("status", [200, 409])
def test_an_identify_ensures_the_contact_then_updates_it_by_intercoms_id(status: int) -> None:
    intercom = transform()
    step = declared_first(intercom, intercom.prepare([IDENTIFY], [NOBODY]).requests, "contact",
                          [("kyc_level", "integer"), ("vip", "boolean")])  # fmt: skip
    assert isinstance(step, Step) and step.message_ids == () and step.for_ids == ("m-0",)
    assert json.loads(step.body) == {"role": "user", "external_id": "user-1"}
    answer = contact_answer(status)
    assert intercom.verdict(step, answer).outcome is Outcome.SENT
    update = intercom.follow_up(step, answer)
    assert update is not None and (update.method, update.message_ids) == ("PUT", ("m-0",))
    assert update.url == "https://api.intercom.io/contacts/c42"
    assert json.loads(update.body) == {
        "email": "ana@example.com", "name": "Ana Lima", "phone": "+4915112345678",
        "signed_up_at": 1767323045,
        "custom_attributes": {"plan": "gold", "kyc_level": 2, "vip": True}}  # fmt: skip
    assert intercom.follow_up(update, HttpResponse(200, {}, b'{"id": "c42"}')) is None


def test_a_group_upserts_the_company_ensures_the_contact_and_attaches_it() -> None:
    intercom = transform()
    group = event("group", groupId="acme", traits={"name": "Acme GmbH", "employees": 40,
                                                   "plan": "team", "region": "EU"})  # fmt: skip
    requests = intercom.prepare([group], [NOBODY]).requests
    listed_company = HttpResponse(
        200,
        {},
        json.dumps(
            {"data": [{"model": "company", "name": "plan"}, {"model": "contact", "name": "region"}]}
        ).encode(),
    )
    [listing] = requests
    company = intercom.follow_up(listing, listed_company)  # a contact's region is not the company's
    assert company is not None and json.loads(company.body) == {
        "name": "region", "model": "company", "data_type": "string"}  # fmt: skip
    company = intercom.follow_up(company, HttpResponse(200, {}, b"{}"))
    assert isinstance(company, Step) and company.for_ids == ("m-0",)
    assert (company.method, company.url) == ("POST", "https://api.intercom.io/companies")
    assert json.loads(company.body) == {
        "company_id": "acme", "name": "Acme GmbH", "plan": "team", "size": 40,
        "custom_attributes": {"region": "EU"}}  # fmt: skip
    ensure = intercom.follow_up(company, HttpResponse(200, {}, b'{"type":"company","id":"k7"}'))
    assert isinstance(ensure, Step) and json.loads(ensure.body)["external_id"] == "user-1"
    attach = intercom.follow_up(ensure, contact_answer(409, "c9"))
    assert attach is not None and attach.message_ids == ("m-0",)
    assert (attach.url, json.loads(attach.body)) == (
        "https://api.intercom.io/contacts/c9/companies", {"id": "k7"})  # fmt: skip


def limited(reset: float | None = None, retry_after: str = "") -> HttpResponse:
    headers = {"X-RateLimit-Reset": str(int(reset))} if reset is not None else {}
    return HttpResponse(429, headers | ({"Retry-After": retry_after} if retry_after else {}))


@pytest.mark.parametrize(
    ("which", "response", "outcome", "refused", "retry_after"),
    [
        ("event", HttpResponse(202), Outcome.SENT, {}, None),
        ("event", HttpResponse(404, {}, b'{"errors":[{"message":"User Not Found"}]}'),
         Outcome.RETRY, {}, None),
        ("event", limited(NOW.timestamp() + 6), Outcome.RETRY, {}, 6.0),
        ("event", limited(retry_after="3"), Outcome.RETRY, {}, 3.0),
        ("event", limited(), Outcome.RETRY, {}, 10.0),
        ("event", HttpResponse(500), Outcome.RETRY, {}, None),
        ("event", HttpResponse(401), Outcome.PERMANENT, {}, None),
        ("event", HttpResponse(400), Outcome.PERMANENT, {}, None),
        ("ensure", contact_answer(200), Outcome.SENT, {}, None),
        ("ensure", contact_answer(409), Outcome.SENT, {}, None),
        ("ensure", HttpResponse(409, {}, b'{"errors":[{"message":"An archived contact matching '
                                         b'those details already exists with id=c1"}]}'),
         Outcome.PERMANENT, {"m-0": ARCHIVED}, None),
        ("ensure", HttpResponse(400, {}, b'{"errors":[{"message":"bad external_id"}]}'),
         Outcome.PERMANENT,
         {"m-0": "Intercom refused to create the contact the event needs: bad external_id"}, None),
        ("ensure", HttpResponse(503), Outcome.RETRY, {}, None),
    ],
)  # fmt: skip
def test_verdicts(
    which: str, response: HttpResponse, outcome: Outcome, refused: dict[str, str],
    retry_after: float | None,
) -> None:  # fmt: skip
    intercom = transform()
    ensure, sent = intercom.prepare([event()], [NOBODY]).requests
    found = intercom.verdict(ensure if which == "ensure" else sent, response)
    assert (found.outcome, dict(found.refused), found.retry_after_seconds) == (
        outcome, refused, retry_after)  # fmt: skip
    if response.status == 404:
        assert found.reason == USER_NOT_FOUND


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_INTERCOM_ENDPOINT", "https://api.eu.intercom.io")
    monkeypatch.setenv("CDP_INTERCOM_ACCESS_TOKEN", "from-env")
    monkeypatch.setenv("CDP_INTERCOM_VERSION", "2.14")
    settings = IntercomSettings()
    assert "from-env" not in repr(settings)
    [ensure, _] = IntercomTransform(settings, FakeClock(NOW)).prepare([event()], [NOBODY]).requests
    assert ensure.url == "https://api.eu.intercom.io/contacts"
    assert ensure.headers["Intercom-Version"] == "2.14"
    assert ensure.headers["Authorization"] == "Bearer from-env"
    assert IntercomTransform(IntercomSettings(access_token=""), FakeClock(NOW)).missing() == [
        "CDP_INTERCOM_ACCESS_TOKEN"
    ]


# Against the stand-in, over HTTP.

SENDER = HttpxSender()


@pytest.fixture(scope="module")
def running() -> Iterator[IntercomStandIn]:
    server = IntercomStandIn(access_token=TOKEN)
    server.start()
    yield server
    server.stop()  # once: a stop waits for the server's half-second poll


@pytest.fixture
def standin(running: IntercomStandIn) -> IntercomStandIn:
    running.clear()
    running.contacts.clear()
    running.companies.clear()
    return running


def send(request: Request) -> HttpResponse:
    return SENDER.send(HttpRequest(request.method, request.url, request.headers, request.body, 5))


def deliver(intercom: IntercomTransform, requests: list[Request]) -> list[Outcome]:
    """What the runner does with a chain: send, take the verdict, send the follow-up."""
    outcomes = []
    for first in requests:
        request: Request | None = first
        while request is not None:
            answer = send(request)
            verdict = intercom.verdict(request, answer)
            outcomes.append(verdict.outcome)
            request = (
                intercom.follow_up(request, answer) if verdict.outcome is Outcome.SENT else None
            )
    return outcomes


def test_the_stand_in_accepts_a_journey_and_delivers_each_event_once(
    standin: IntercomStandIn,
) -> None:
    intercom = transform(endpoint=standin.url)
    journey = [event(n=0, properties={"amount": 5}), IDENTIFY | {"messageId": "m-1"},
               event("group", n=2, groupId="acme", traits={"name": "Acme"}),
               event(n=3, event="card_frozen"), event(n=4, userId="user-2")]  # fmt: skip
    outcomes = deliver(intercom, intercom.prepare(journey, [NOBODY] * 5).requests)
    assert set(outcomes) == {Outcome.SENT}
    assert standin.refused == []
    assert sorted(standin.keys()) == sorted([
        f"user-1|card_activated|{WHEN_S}", "contact:user-1", "company:acme:user-1",
        f"user-1|card_frozen|{WHEN_S}", f"user-2|card_activated|{WHEN_S}"])  # fmt: skip
    [ana] = [c for c in standin.contacts.values() if c["external_id"] == "user-1"]
    assert ana["name"] == "Ana Lima" and ana["custom_attributes"]["plan"] == "gold"
    assert len(ana["companies"]) == 1
    again = deliver(intercom, intercom.prepare([event(n=5)], [NOBODY]).requests)
    assert again == [Outcome.SENT, Outcome.SENT] and standin.refused == []


def test_an_event_for_an_unknown_user_is_refused_and_the_verdict_retries(
    standin: IntercomStandIn,
) -> None:
    intercom = transform(endpoint=standin.url)
    _, sent = intercom.prepare([event()], [NOBODY]).requests
    answer = send(sent)
    assert answer.status == 404 and [r["reason"] for r in standin.refused] == [NO_USER]
    assert intercom.verdict(sent, answer).outcome is Outcome.RETRY


def test_a_429_with_retry_after_then_delivered_once(standin: IntercomStandIn) -> None:
    intercom = transform(endpoint=standin.url)
    ensure, sent = intercom.prepare([event()], [NOBODY]).requests
    assert deliver(intercom, [ensure]) == [Outcome.SENT]
    standin.fail(status=429, times=1, retry_after=2)
    first = intercom.verdict(sent, send(sent))
    assert (first.outcome, first.retry_after_seconds) == (Outcome.RETRY, 2.0)
    assert deliver(intercom, [sent]) == [Outcome.SENT]
    assert standin.keys() == [f"user-1|card_activated|{WHEN_S}"]


def test_a_merge_request_merges_a_lead_into_a_user(standin: IntercomStandIn) -> None:
    headers = transform().prepare([event()], [NOBODY]).requests[0].headers
    for body in ({"role": "lead", "email": "v@example.com"}, {"role": "user", "external_id": "u"}):
        send(Request("POST", standin.url + "/contacts", headers, json.dumps(body).encode(), ()))
    lead, user = list(standin.contacts)
    merge = merge_request(IntercomSettings(access_token=TOKEN, endpoint=standin.url), lead, user)
    assert json.loads(merge.body) == {"from": lead, "into": user}
    assert send(merge).status == 200 and list(standin.contacts) == [user]


def raw(standin: IntercomStandIn, path: str, payload: Any, **headers: str) -> int:
    base = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.16",
            "Content-Type": "application/json"}  # fmt: skip
    request = HttpRequest("POST", standin.url + path, {**base, **headers},
                          json.dumps(payload).encode())  # fmt: skip
    return SENDER.send(request).status


@pytest.mark.parametrize(
    ("path", "payload", "headers", "status", "reason"),
    [
        ("/contacts", {"external_id": "u1"}, {"Authorization": "Bearer nope"}, 401, UNAUTHORIZED),
        ("/contacts", {"external_id": "u1"}, {"Intercom-Version": "9.9"}, 400, BAD_VERSION),
        ("/contacts", {"role": "user"}, {}, 400, NO_IDENTIFIER),
        ("/events", {"event_name": "x", "created_at": WHEN_S * 1000, "user_id": "u1"}, {}, 400,
         BAD_CREATED_AT),
        ("/events", {"event_name": "x", "created_at": WHEN_S, "user_id": "u1",
                     "metadata": {f"k{i}": i for i in range(11)}}, {}, 400, BAD_METADATA),
        ("/events", {"event_name": "x", "created_at": WHEN_S, "user_id": "u1",
                     "metadata": {"a": {"b": 1}}}, {}, 400, BAD_METADATA),
        ("/events", {"event_name": "x", "created_at": WHEN_S, "user_id": "u1",
                     "metadata": {"a.b": 1}}, {}, 400, BAD_METADATA),
        ("/events", {"event_name": "x", "created_at": WHEN_S, "user_id": "nobody"}, {}, 404,
         NO_USER),
    ],
)  # fmt: skip
def test_the_stand_in_refuses_what_intercom_refuses(
    standin: IntercomStandIn, path: str, payload: Any, headers: dict[str, str], status: int,
    reason: str,
) -> None:  # fmt: skip
    raw(standin, "/contacts", {"role": "user", "external_id": "u1"})
    assert raw(standin, path, payload, **headers) == status
    assert [r["reason"] for r in standin.refused] == [reason]


def test_function_environment_points_the_platform_at_the_stand_in() -> None:
    env = standin_module.function_environment("http://127.0.0.1:9998")
    assert env == {"CDP_INTERCOM_ENDPOINT": "http://127.0.0.1:9998",
                   "CDP_INTERCOM_ACCESS_TOKEN": IntercomStandIn().access_token}  # fmt: skip
