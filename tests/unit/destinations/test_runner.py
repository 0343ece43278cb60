"""The delivery path every destination shares, on fakes: the person's consent, the ledger,
refusals as failed events, a short Retry-After waited out, replays for one destination, and the
registry matching the topology."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic_settings import SettingsConfigDict

from shared.destinations import registry
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Person,
    Prepared,
    Request,
    Transform,
)
from shared.destinations.operations import list_dead, replay
from shared.destinations.runner import Runner, people_of
from shared.envelope import Envelope, encode_serialized
from shared.errors import BackendUnavailable
from shared.identity.handler import IdentityHandler, profiled
from shared.identity.profiles import ProfileRepository
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse
from shared.ports.publisher import InMemoryPublisher
from shared.ports.subscriber import InMemorySubscriber
from shared.topology import DESTINATIONS, FAILED_EVENTS, PROFILED_EVENTS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class EchoSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_ECHO_", extra="ignore")
    endpoint: str = "https://echo.example"


class Echo(Transform):
    """One request per event, its messageId in the body."""

    name = "echo"
    settings_class = EchoSettings
    consent_category = "advertising"
    dedup: ClassVar[bool] = False

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        out = Prepared()
        for event in events:
            body = json.dumps({"id": event["messageId"]}).encode()
            out.requests.append(Request("POST", self.settings.endpoint, {}, body,
                                        (str(event["messageId"]),)))  # fmt: skip
        return out


def runner(answer: Any = None, *, dedup: bool = False, **settings: Any) -> tuple[Runner, Any]:
    http = FakeHttpSender(answer)
    kind = type("DedupEcho", (Echo,), {"provider_dedup": True}) if dedup else Echo
    waits: list[float] = []
    made = Runner(kind(EchoSettings(**settings), FakeClock(NOW)), http=http, clock=FakeClock(NOW),
                  publisher=InMemoryPublisher(), documents=InMemoryDocumentStore(),
                  sleep=waits.append)  # fmt: skip
    return made, (http, waits)


def track(n: int, **context: Any) -> dict[str, Any]:
    return {"type": "track", "event": "x", "userId": "u", "messageId": f"m{n}", "context": context}


def message(events: list[dict[str, Any]], people: dict[str, Any] | None = None) -> Envelope:
    meta = {"people": people or {}, "profile_of": ["p1"] * len(events), "source_message": "s1"}
    return Envelope("events", events, {"kind": "events"}, message_id="pubsub-1", meta=meta)


REFUSED = {"consent": {"advertising": False}, "traits": {}}


def test_a_refusal_on_the_persons_profile_holds_for_an_event_that_says_nothing() -> None:
    run, (http, _) = runner()
    done = run.handle(message([track(1)], {"p1": REFUSED}))
    assert (done.filtered, http.requests) == (1, [])
    granted = message([track(2)], {"p1": {"consent": {"advertising": True}, "traits": {}}})
    assert run.handle(granted).delivered == {"m2"}


def test_an_event_refusing_is_not_sent_whatever_the_profile_says() -> None:
    run, _ = runner()
    refusing = track(1, consent={"categoryPreferences": {"advertising": False}})
    assert run.handle(message([refusing], {"p1": {"consent": {"advertising": True}}})).filtered == 1


def test_an_opt_in_category_needs_a_grant() -> None:
    http = FakeHttpSender()
    run = Runner(Echo(EchoSettings(), FakeClock(NOW)), http=http, clock=FakeClock(NOW),
                 publisher=InMemoryPublisher(), documents=InMemoryDocumentStore(),
                 opt_in=["advertising"])  # fmt: skip
    assert run.handle(message([track(1)])).filtered == 1
    assert run.handle(message([track(2)], {"p1": {"consent": {"advertising": True}}})).delivered


def test_the_ledger_sends_nothing_twice_across_redeliveries_and_identity_retries() -> None:
    answers = iter([HttpResponse(200), HttpResponse(503)])
    run, (http, _) = runner(lambda _r: next(answers, HttpResponse(200)))
    events = [track(1), track(2)]
    with pytest.raises(BackendUnavailable):
        run.handle(message(events))
    again = run.handle(message(events))  # a new Pub/Sub message, the same engaged one
    assert (again.already, again.delivered) == (1, {"m2"})
    assert [json.loads(r.body)["id"] for r in http.requests] == ["m1", "m2", "m2"]


def test_a_provider_with_its_own_dedup_key_keeps_no_ledger() -> None:
    run, (http, _) = runner(dedup=True)
    run.handle(message([track(1)]))
    run.handle(message([track(1)]))
    assert len(http.requests) == 2


def test_a_short_retry_after_is_waited_out_in_process() -> None:
    answers = iter([HttpResponse(429, {"Retry-After": "2"}), HttpResponse(200)])
    run, (http, waits) = runner(lambda _r: next(answers))
    assert run.handle(message([track(1)])).delivered == {"m1"}
    assert (len(http.requests), waits) == (2, [2.0])


def test_a_long_retry_after_is_left_to_pubsub() -> None:
    run, (_, waits) = runner(lambda _r: HttpResponse(429, {"Retry-After": "600"}))
    with pytest.raises(BackendUnavailable, match="429"):
        run.handle(message([track(1)]))
    assert waits == []


def test_refused_events_become_failed_events_with_the_reason() -> None:
    run, _ = runner(lambda _r: HttpResponse(422, body=b"bad field"))
    done = run.handle(message([track(1)]))
    assert done.outcome == "refused"
    publisher = run._publisher
    assert isinstance(publisher, InMemoryPublisher)
    [failure] = json.loads(publisher.on(FAILED_EVENTS)[0].data)["events"]
    assert failure["stage"] == "destination-echo" and "bad field" in failure["reason"]


def test_a_replay_for_another_destination_is_not_sent() -> None:
    run, (http, _) = runner()
    replayed = message([track(1)])
    replayed.attributes["replay_for"] = "webhook"
    assert run.handle(replayed).delivered == set() and http.requests == []


def test_identity_gives_each_event_its_persons_consent() -> None:
    store, publisher = InMemoryDocumentStore(), InMemoryPublisher()
    identity = IdentityHandler(ProfileRepository(store), publisher, FakeClock(NOW), True)
    phone = {
        "type": "track",
        "event": "x",
        "userId": "u1",
        "messageId": "a",
        "context": {"consent": {"categoryPreferences": {"advertising": False}}},
    }
    laptop = {"type": "track", "event": "y", "userId": "u1", "messageId": "b"}
    identity.handle(Envelope("events", [phone], {"kind": "events"}, message_id="1"))
    identity.handle(Envelope("events", [laptop], {"kind": "events"}, message_id="2"))
    [_, second] = publisher.on(PROFILED_EVENTS)
    body = json.loads(second.data)
    envelope = Envelope("events", body["events"], second.attributes, meta=body["meta"])
    [person] = people_of(envelope)
    assert person.consent == {"advertising": False}
    assert body["meta"]["source_message"].startswith("batch-")  # a key of its messageIds
    run, (http, _) = runner()
    assert run.handle(envelope).filtered == 1 and http.requests == []


def test_a_batch_ingest_published_twice_is_delivered_once() -> None:
    """Ingest gave up on a publish that went through after all, answered 503, and the SDK sent
    the batch again: two engaged messages with the same events. The ledger knows them as one."""
    store, publisher = InMemoryDocumentStore(), InMemoryPublisher()
    identity = IdentityHandler(ProfileRepository(store), publisher, FakeClock(NOW), True)
    batch = [track(1), track(2)]
    for pubsub_id in ("first-publish", "second-publish"):
        identity.handle(Envelope("events", batch, {"kind": "events"}, message_id=pubsub_id))
    first, second = publisher.on(PROFILED_EVENTS)
    keys = {json.loads(m.data)["meta"]["source_message"] for m in (first, second)}
    assert len(keys) == 1
    other = Envelope("events", [track(1), track(3)], {"kind": "events"}, message_id="x")
    identity.handle(other)
    assert json.loads(publisher.on(PROFILED_EVENTS)[-1].data)["meta"]["source_message"] not in keys
    run, (http, _) = runner()
    for sent in (first, second):
        body = json.loads(sent.data)
        run.handle(Envelope("events", body["events"], sent.attributes, meta=body["meta"]))
    assert sorted(json.loads(r.body)["id"] for r in http.requests) == ["m1", "m2"]


def test_dead_letters_are_listed_in_place_and_replayed_for_their_destination_only() -> None:
    subscriber, publisher = InMemorySubscriber(), InMemoryPublisher()
    envelope = Envelope("events", [track(1)], {"kind": "events"})
    data = profiled(envelope, envelope.events, []).data
    subscriber.put("destination-meta-dead-letter", data, kind="events")
    listed = list_dead(subscriber, "meta")
    assert [(m["subscription"], m["message_ids"]) for m in listed] == [
        ("destination-meta-dead-letter", ["m1"])
    ]
    assert list_dead(subscriber, "meta") == listed  # listing took nothing
    seen: list[int] = []
    assert replay(subscriber, publisher, "meta", progress=seen.append) == 1
    [again] = publisher.on(PROFILED_EVENTS)
    assert again.attributes["replay_for"] == "meta" and again.data == data and seen == [1]
    assert list_dead(subscriber, "destination-meta") == []


def test_the_registry_has_a_transform_for_every_destination_of_the_topology() -> None:
    for name in DESTINATIONS:
        kind = registry.transform_class(name)
        assert kind.name == name and issubclass(kind.settings_class, DestinationSettings)
    with pytest.raises(KeyError):
        registry.transform_class("nope")


def test_a_message_without_identity_meta_has_nobody_behind_its_events() -> None:
    events = [track(1)]
    bare = encode_serialized(PROFILED_EVENTS, "events", [json.dumps(e).encode() for e in events])
    body = json.loads(bare.data)
    assert people_of(Envelope("events", body["events"], {})) == [Person()]
    assert isinstance(HttpRequest("GET", "x"), HttpRequest)


def test_amplitude_refusing_one_event_of_a_request_gets_the_others_resent() -> None:
    from shared.destinations.amplitude import AmplitudeSettings, AmplitudeTransform

    refusal = {"code": 400, "error": "Invalid field values on some events",
               "events_with_invalid_fields": {"time": [0]}}  # fmt: skip
    answers = iter([HttpResponse(400, body=json.dumps(refusal).encode()), HttpResponse(200)])
    http = FakeHttpSender(lambda _r: next(answers))
    transform = AmplitudeTransform(AmplitudeSettings(api_key="k" * 32), FakeClock(NOW))
    run = Runner(transform, http=http, clock=FakeClock(NOW), publisher=InMemoryPublisher(),
                 documents=InMemoryDocumentStore())  # fmt: skip
    events = [{**track(n), "userId": "user-12345", "timestamp": "2026-11-22T11:00:00Z"}
              for n in (1, 2)]  # fmt: skip
    done = run.handle(message(events))
    assert (set(done.refused), done.delivered, done.requests) == ({"m1"}, {"m2"}, 2)
    resent = json.loads(http.requests[1].body)["events"]
    assert [e["insert_id"] for e in resent] == ["m2"]


def test_a_destination_takes_the_audiences_its_settings_name_and_every_other_track() -> None:
    run, (http, _) = runner(audiences=["direct_deposit"])
    entered = [{**track(n), "event": "Audience Entered", "properties": {"audience_key": key}}
               for n, key in ((1, "direct_deposit"), (2, "churn_risk"))]  # fmt: skip
    done = run.handle(message([*entered, track(3)]))
    assert (done.delivered, done.filtered) == ({"m1", "m3"}, 1)
    assert [json.loads(r.body)["id"] for r in http.requests] == ["m1", "m3"]
