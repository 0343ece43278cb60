"""The delivery bench's pure parts: the events it generates are ones each destination takes and
its stand-in accepts, each delivered once, and its messages carry each event's person as
identity sends them. No socket: the stand-ins' checks are called directly."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.destinations import CONSENT, MESSAGE, NAMES, Target, _runner, envelopes, events
from shared.destinations.runner import people_of
from shared.local.standins.base import StandIn
from shared.local.webhook_standin import WebhookStandIn, function_environment
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9"


def provider(name: str) -> tuple[StandIn, dict[str, str]]:
    """The provider's stand-in, not started, and the environment that points at ``URL``."""
    module = __import__(f"shared.local.standins.{name}", fromlist=["function_environment"])
    [kind] = [v for v in vars(module).values()
              if isinstance(v, type) and issubclass(v, StandIn) and v is not StandIn]  # fmt: skip
    environment: dict[str, str] = module.function_environment(URL)
    return kind(), environment


def answered_by(standin: StandIn) -> Callable[[HttpRequest], HttpResponse]:
    def answer(request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply, _ = standin.receive(request.method, path, headers, request.body)
        body: Any = reply.body
        raw = body if isinstance(body, bytes) else (body if isinstance(body, str)
                                                    else json.dumps(body)).encode()  # fmt: skip
        return HttpResponse(reply.status, dict(reply.headers), raw)

    return answer


@pytest.mark.parametrize("name", NAMES)
def test_every_generated_event_is_taken_and_accepted_once(name: str) -> None:
    sent = events(name, 2 * MESSAGE, datetime.now(UTC))  # Meta's and GA4's windows are real
    if name == "webhook":
        hook = WebhookStandIn(secret="s")
        environment = function_environment(f"{URL}/webhook", "s")
        http = FakeHttpSender(lambda r: HttpResponse(hook.receive(
            {k.lower(): v for k, v in r.headers.items()}, r.body)))  # fmt: skip
    else:
        standin, environment = provider(name)
        http = FakeHttpSender(answered_by(standin))
    runner = _runner(name, Target(environment, "", name == "webhook"), http)
    done = [runner.handle(m) for m in envelopes(sent)]
    ids = {str(e["messageId"]) for e in sent}
    assert len(ids) == len(sent)
    assert set().union(*(d.delivered for d in done)) == ids
    assert [(d.filtered, d.skipped, d.refused, d.outcome) for d in done] == [
        (0, {}, {}, "delivered")
    ] * 2
    if name == "webhook":
        assert hook.rejected == []
        keys = Counter(str(e["messageId"]) for body in hook.accepted for e in body["batch"])
    else:
        assert standin.refused == [] and getattr(standin, "dropped", []) == []
        keys = Counter(standin.keys())
    assert len(keys) == len(sent) and set(keys.values()) == {1}


def test_the_mix_has_what_each_destination_takes() -> None:
    kinds = {name: Counter(e["type"] for e in events(name, 100, NOW)) for name in NAMES}
    assert kinds["amplitude"] == kinds["webhook"] == {"track": 70, "page": 20, "identify": 10}
    assert kinds["intercom"] == {"track": 90, "identify": 10}
    assert kinds["firebase"] == {"track": 70, "page": 30}
    assert kinds["meta"] == kinds["appsflyer"] == kinds["slack"] == {"track": 100}
    assert events("meta", 3, NOW) == events("meta", 3, NOW)  # the same every run


def test_messages_carry_each_events_person() -> None:
    sent = events("amplitude", 150, NOW)
    messages = envelopes(sent)
    assert [len(m.events) for m in messages] == [100, 50]
    people = people_of(messages[1])
    assert [p.profile_id for p in people] == [f"p-{e['userId']}" for e in sent[100:]]
    assert all(p.consent == CONSENT for p in people)
    assert messages[0].meta["source_message"] != messages[1].meta["source_message"]
