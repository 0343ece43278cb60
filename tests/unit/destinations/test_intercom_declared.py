"""Intercom's declared custom attributes kept per instance: what the cache answers (a table of
steps), how many requests an identify costs without and with it (against the stand-in, in
process), and an attribute removed from Intercom meanwhile (the write retries, then lists)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.destinations.delivery import Outcome
from shared.destinations.framework import NOBODY, Request
from shared.destinations.intercom import (
    STALE_ATTRIBUTES,
    IntercomSettings,
    IntercomTransform,
    Step,
)
from shared.destinations.intercom_declared import (
    TTL_SECONDS,
    DeclaredAttributes,
    unknown_attribute,
)
from shared.local.standins.intercom import IntercomStandIn
from shared.ports.clock import FakeClock
from shared.ports.http import HttpResponse

TOKEN = "t-intercom"
URL = "http://intercom.local"
HEADERS = {"authorization": f"Bearer {TOKEN}", "intercom-version": "2.16"}

# (step, model, names): "list" a listing's answer, "exists" a creation's, "forget" a refusal,
# "wait" the seconds that pass, "known" the question with the answer expected in `names[-1]`
STEPS: list[tuple[str, list[tuple[str, str, tuple[Any, ...]]]]] = [
    ("nothing is known at first", [("known", "contact", ("churn_risk", False))]),
    (
        "a listing makes its names known",
        [
            ("list", "contact", ("churn_risk", "plan")),
            ("known", "contact", ("churn_risk", "plan", True)),
            ("known", "contact", ("churn_risk", "vip", False)),
            ("known", "company", ("churn_risk", False)),
        ],
    ),
    (
        "a creation adds one",
        [
            ("list", "contact", ("plan",)),
            ("exists", "contact", ("vip",)),
            ("known", "contact", ("plan", "vip", True)),
        ],
    ),
    (
        "a listing replaces the model's names",
        [
            ("list", "contact", ("plan", "vip")),
            ("list", "contact", ("plan",)),
            ("known", "contact", ("vip", False)),
        ],
    ),
    (
        "they are trusted for the TTL only",
        [
            ("list", "contact", ("plan",)),
            ("wait", "", (TTL_SECONDS - 1,)),
            ("known", "contact", ("plan", True)),
            ("wait", "", (1,)),
            ("known", "contact", ("plan", False)),
        ],
    ),
    (
        "a creation late in the TTL outlives the listing",
        [
            ("list", "contact", ("plan",)),
            ("wait", "", (TTL_SECONDS - 10,)),
            ("exists", "contact", ("vip",)),
            ("wait", "", (20,)),
            ("known", "contact", ("vip", True)),
            ("known", "contact", ("plan", False)),
        ],
    ),
    (
        "a refusal forgets the model, not the other",
        [
            ("list", "contact", ("plan",)),
            ("list", "company", ("tier",)),
            ("forget", "contact", ()),
            ("known", "contact", ("plan", False)),
            ("known", "company", ("tier", True)),
        ],
    ),
]


@pytest.mark.parametrize("steps", [s for _, s in STEPS], ids=[name for name, _ in STEPS])
def test_what_the_cache_knows(steps: list[tuple[str, str, tuple[Any, ...]]]) -> None:
    clock = FakeClock()
    cache = DeclaredAttributes(clock)
    for step, model, args in steps:
        if step == "list":
            cache.listed(model, args)
        elif step == "exists":
            cache.exists(model, args[0])
        elif step == "forget":
            cache.forget(model)
        elif step == "wait":
            clock.advance(args[0])
        else:
            assert cache.known(model, args[:-1]) is args[-1], (model, args)


@pytest.mark.parametrize(
    ("message", "unknown"),
    [
        ("Custom attribute 'churn_risk' does not exist", True),
        ("Custom attribute churn_risk is not declared", True),
        ("You already have 'plan' in your people data.", False),
        ("Custom attribute 'plan' is of type string", False),
        ("User Not Found", False),
    ],
)
def test_which_refusals_say_an_attribute_is_missing(message: str, unknown: bool) -> None:
    assert unknown_attribute(message) is unknown


def answer(standin: IntercomStandIn, request: Request) -> HttpResponse:
    path = request.url.removeprefix(URL)
    headers = {k.lower(): v for k, v in request.headers.items()}
    reply, _ = standin.receive(request.method, path, headers, request.body)
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    return HttpResponse(reply.status, dict(reply.headers), body)


def deliver(
    intercom: IntercomTransform, standin: IntercomStandIn, events: list[Any]
) -> tuple[int, list[Outcome]]:
    """What the runner does with each chain; the requests sent and the chains' last verdicts."""
    sent, outcomes = 0, []
    for first in intercom.prepare(events, [NOBODY] * len(events)).requests:
        request: Request | None = first
        while request is not None:
            response, sent = answer(standin, request), sent + 1
            verdict = intercom.verdict(request, response)
            nxt = intercom.follow_up(request, response) if verdict.outcome is Outcome.SENT else None
            if nxt is None:
                outcomes.append(verdict.outcome)
            request = nxt
    return sent, outcomes


def identify(n: int, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": f"m-{n}", "userId": f"user-{n}",
            "traits": {"churn_risk": True, **traits}}  # fmt: skip


def transform(ttl_seconds: float) -> tuple[IntercomTransform, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC))
    intercom = IntercomTransform(IntercomSettings(access_token=TOKEN, endpoint=URL), clock)
    intercom.declared.ttl_seconds = ttl_seconds
    return intercom, clock


@pytest.mark.parametrize(("ttl", "per_identify"), [(0.0, 3), (TTL_SECONDS, 2)])
def test_requests_per_identify_without_and_with_the_cache(ttl: float, per_identify: int) -> None:
    """Without (a cache that never holds): a listing, the ensure and the update each time;
    with it: the ensure and the update once the first identify declared the attribute."""
    intercom, clock = transform(ttl)
    standin = IntercomStandIn(access_token=TOKEN)
    first, outcomes = deliver(intercom, standin, [identify(0)])
    assert (first, outcomes) == (4, [Outcome.SENT])  # listing, creation, ensure, update
    for n in range(1, 6):
        clock.advance(60)
        assert deliver(intercom, standin, [identify(n)]) == (per_identify, [Outcome.SENT])
    assert standin.refused == []
    assert {c["custom_attributes"]["churn_risk"] for c in standin.contacts.values()} == {True}


def test_a_new_attribute_still_lists_and_declares_first() -> None:
    intercom, _ = transform(TTL_SECONDS)
    standin = IntercomStandIn(access_token=TOKEN)
    deliver(intercom, standin, [identify(0)])
    sent, outcomes = deliver(intercom, standin, [identify(1, plan="gold")])
    assert (sent, outcomes) == (4, [Outcome.SENT])  # plan is not known: listed, created
    assert standin.attributes.custom["contact"]["plan"]["data_type"] == "string"


def test_an_attribute_gone_from_intercom_retries_the_message_which_then_lists() -> None:
    intercom, _ = transform(TTL_SECONDS)
    standin = IntercomStandIn(access_token=TOKEN)
    deliver(intercom, standin, [identify(0)])
    standin.attributes.clear()  # removed in Intercom's settings meanwhile
    [ensure] = intercom.prepare([identify(1)], [NOBODY]).requests
    assert isinstance(ensure, Step) and ensure.cached == "contact"
    put = intercom.follow_up(ensure, answer(standin, ensure))
    assert put is not None and put.message_ids == ("m-1",)
    verdict = intercom.verdict(put, answer(standin, put))
    assert (verdict.outcome, verdict.reason) == (Outcome.RETRY, STALE_ATTRIBUTES)
    assert verdict.retry_after_seconds is None  # not in process: the message is redelivered
    assert deliver(intercom, standin, [identify(1)]) == (4, [Outcome.SENT])  # lists, declares
    assert standin.attributes.custom["contact"]["churn_risk"]["data_type"] == "boolean"


def test_an_unknown_attribute_after_a_listing_is_a_refusal_not_a_retry() -> None:
    intercom, _ = transform(TTL_SECONDS)
    [listing] = intercom.prepare([identify(0)], [NOBODY]).requests
    assert isinstance(listing, Step) and listing.then == "declare" and not listing.cached
    intercom.declared.listed("contact", ["churn_risk"])
    refusal = {"type": "error.list", "errors": [{"code": "parameter_invalid",
               "message": "Custom attribute 'churn_risk' does not exist"}]}  # fmt: skip
    put = Step("PUT", f"{URL}/contacts/c1", {}, b"{}", ("m-0",))  # written after listing
    verdict = intercom.verdict(put, HttpResponse(400, {}, json.dumps(refusal).encode()))
    assert verdict.outcome is Outcome.PERMANENT
    assert not intercom.declared.known("contact", ["churn_risk"])  # forgotten all the same
