"""Audience entries and exits reach the tools that act on them: an ``Audience Entered`` /
``Audience Exited`` pair and its identifies (shaped as the audiences job emits them), through
the runner with each destination configured as the local stack configures it, sent for real to
the provider's stand-in: Meta (the direct-deposit audience only, as custom events), Intercom
(data events, and the trait as a declared custom attribute), Amplitude (events, and the trait
as a user property). Slack's high-value alert: ``test_slack_templates.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.destinations import registry
from shared.destinations.meta import LONG_AUDIENCE
from shared.destinations.runner import Delivery, Runner
from shared.envelope import Envelope
from shared.local.standins import amplitude, intercom, meta
from shared.local.standins.base import StandIn
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore
from shared.ports.http import HttpRequest
from shared.ports.publisher import InMemoryPublisher

NOW = datetime.now(UTC).replace(microsecond=0)  # Meta's stand-in keeps Meta's 7-day window
ENTERED_AT, EXITED_AT = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
NAMES = {"direct_deposit": "Direct deposit enabled", "churn_risk": "Churn risk"}


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transition(key: str, entered: bool, at: datetime, user: str = "user-0001") -> list[Any]:
    """The track and identify the audiences job emits for one transition."""
    mid = f"aud-{key}-{'entered' if entered else 'exited'}-{user}"
    props: dict[str, Any] = {"audience_key": key, "audience_name": NAMES.get(key, key)}
    if key == "churn_risk":
        props |= {"high_value": True, "transaction_volume_30d": 812.5}
    common = {"userId": user, "timestamp": iso(at), "receivedAt": iso(at),
              "context": {"library": {"name": "cdp-audiences", "version": 1}},
              "sourceId": "audiences", "sourceName": "Audiences"}  # fmt: skip
    name = "Audience Entered" if entered else "Audience Exited"
    return [{"type": "track", "event": name, "messageId": mid, "properties": props, **common},
            {"type": "identify", "messageId": f"{mid}-identify", "traits": {key: entered},
             **common}]  # fmt: skip


def pair(key: str) -> list[Any]:
    return [*transition(key, True, ENTERED_AT), *transition(key, False, EXITED_AT)]


def envelope(events: list[Any], source: str = "s1") -> Envelope:
    person = {"consent": {}, "traits": {"email": "ana@example.com"}}
    meta_ = {"people": {"p1": person}, "profile_of": ["p1"] * len(events), "source_message": source}
    return Envelope("events", events, {"kind": "events"}, "ps-1", meta=meta_)


MODULES: dict[str, ModuleType] = {"meta": meta, "intercom": intercom, "amplitude": amplitude}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, StandIn]]:
    """One stand-in per provider for the module (each stop waits out a poll interval)."""
    started = {name: next(v for v in vars(module).values() if isinstance(v, type)
                          and issubclass(v, StandIn) and v is not StandIn)()
               for name, module in MODULES.items()}  # fmt: skip
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def live(servers: dict[str, StandIn], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``(name) → (runner, stand-in)``: the destination as ``cdp dev`` configures it, its
    stand-in as new."""

    def make(name: str, **overrides: str) -> tuple[Runner, Any]:
        server = servers[name]
        server.clear()
        for kept in ("contacts", "companies"):
            getattr(server, kept, {}).clear()
        if isinstance(server, intercom.IntercomStandIn):
            server.attributes.clear()
        environment = MODULES[name].function_environment(server.url) | overrides
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        clock = FakeClock(NOW)
        transform = registry.build(name, clock)
        runner = Runner(transform, http=HttpxSender(), clock=clock, publisher=InMemoryPublisher(),
                        documents=InMemoryDocumentStore(), sleep=lambda _: None)  # fmt: skip
        return runner, server

    return make


def clean(done: Delivery) -> None:
    assert (done.refused, done.outcome) == ({}, "delivered"), done


def test_meta_gets_the_direct_deposit_audience_as_custom_events(live: Any) -> None:
    runner, standin = live("meta")
    done = runner.handle(envelope([*pair("direct_deposit"), *pair("churn_risk")]))
    clean(done)
    assert done.filtered == 6  # the identifies (tracks only) and the other audience's pair
    sent = {e["key"]: e for e in standin.delivered}
    assert set(sent) == {"aud-direct_deposit-entered-user-0001",
                         "aud-direct_deposit-exited-user-0001"}  # fmt: skip
    entered, exited = (sent[f"aud-direct_deposit-{t}-user-0001"] for t in ("entered", "exited"))
    assert entered["event_name"] == "Audience Entered direct_deposit"
    assert exited["event_name"] == "Audience Exited direct_deposit"
    assert entered["event_time"] == int(ENTERED_AT.timestamp())
    assert {e["action_source"] for e in sent.values()} == {"system_generated"}
    assert entered["custom_data"] == {"audience_key": "direct_deposit",
                                      "audience_name": "Direct deposit enabled"}  # fmt: skip
    [request] = standin.accepted
    [user] = {
        json.dumps(e["user_data"], sort_keys=True) for e in json.loads(request["body"])["data"]
    }
    assert set(json.loads(user)) == {"em", "external_id"}  # hashed: the profile's email, userId
    assert standin.refused == []


def test_meta_refuses_an_audience_whose_event_name_would_be_cut(live: Any) -> None:
    key = "a_very_long_audience_key_name"
    runner, standin = live("meta", CDP_META_AUDIENCES=key)
    [track, _] = transition(key, True, ENTERED_AT)
    done = runner.handle(envelope([track]))
    assert done.refused == {track["messageId"]: LONG_AUDIENCE.format(
        name=f"Audience Entered {key}")}  # fmt: skip
    assert standin.accepted == []


def test_intercom_gets_data_events_and_the_trait_as_a_declared_custom_attribute(live: Any) -> None:
    runner, standin = live("intercom")
    entered, exited = (
        transition("churn_risk", True, ENTERED_AT),
        transition("churn_risk", False, EXITED_AT),
    )
    clean(runner.handle(envelope(entered, "s1")))
    [contact] = standin.contacts.values()
    assert contact["external_id"] == "user-0001"
    assert contact["custom_attributes"] == {"churn_risk": True}
    assert standin.attributes.custom["contact"]["churn_risk"]["data_type"] == "boolean"
    clean(runner.handle(envelope(exited, "s2")))
    assert contact["custom_attributes"] == {"churn_risk": False}
    events = [e for e in standin.delivered if "event_name" in e]
    assert [e["event_name"] for e in events] == ["Audience Entered", "Audience Exited"]
    assert [e["created_at"] for e in events] == [
        int(t.timestamp()) for t in (ENTERED_AT, EXITED_AT)
    ]
    assert events[0]["metadata"] == {
        "audience_key": "churn_risk", "audience_name": "Churn risk", "high_value": "true",
        "transaction_volume_30d": 812.5}  # fmt: skip
    assert standin.refused == []
    creations = [r for r in standin.accepted if r["path"] == "/data_attributes"]
    listings = [r for r in standin.accepted if r["path"].startswith("/data_attributes?")]
    assert (len(creations), len(listings)) == (1, 1)  # the exit's identify knows it declared
    again = runner.handle(envelope(exited, "s2"))  # a redelivery: the ledger sends nothing
    assert (again.already, again.requests) == (2, 0)


def test_intercom_would_refuse_the_trait_undeclared(live: Any) -> None:
    """What the declaration is for: Intercom refuses a custom attribute it does not have."""
    runner, standin = live("intercom")
    clean(runner.handle(envelope(transition("direct_deposit", True, ENTERED_AT)[:1])))
    [contact_id] = standin.contacts
    put = HttpxSender().send(_put(standin.url, contact_id, {"direct_deposit": True}))
    assert put.status == 400 and b"Custom attribute 'direct_deposit' does not exist" in put.body
    standin.attributes.create({"name": "direct_deposit", "model": "contact",
                               "data_type": "boolean"})  # fmt: skip
    wrong = HttpxSender().send(_put(standin.url, contact_id, {"direct_deposit": "yes"}))
    assert wrong.status == 400 and b"is of type boolean" in wrong.body
    assert HttpxSender().send(_put(standin.url, contact_id, {"direct_deposit": True})).status == 200


def _put(url: str, contact_id: str, custom: dict[str, Any]) -> HttpRequest:
    headers = {"Authorization": f"Bearer {intercom.LOCAL_ACCESS_TOKEN}", "Intercom-Version": "2.16",
               "Content-Type": "application/json"}  # fmt: skip
    body = json.dumps({"custom_attributes": custom}).encode()
    return HttpRequest("PUT", f"{url}/contacts/{contact_id}", headers, body, 5)


def test_amplitude_gets_events_and_the_trait_as_a_user_property(live: Any) -> None:
    runner, standin = live("amplitude")
    events = pair("direct_deposit")
    clean(runner.handle(envelope(events)))
    sent = {e["key"]: e["event"] for e in standin.delivered}
    assert set(sent) == {e["messageId"] for e in events}  # insert_id: Amplitude dedupes on it
    track, identify = (sent["aud-direct_deposit-entered-user-0001" + s] for s in ("", "-identify"))
    assert (track["event_type"], track["user_id"]) == ("Audience Entered", "user-0001")
    assert track["event_properties"] == {"audience_key": "direct_deposit",
                                         "audience_name": "Direct deposit enabled"}  # fmt: skip
    assert track["time"] == int(ENTERED_AT.timestamp() * 1000)
    assert identify["event_type"] == "$identify"
    assert identify["user_properties"] == {"$set": {"direct_deposit": True}}
    exit_identify = sent["aud-direct_deposit-exited-user-0001-identify"]
    assert exit_identify["user_properties"] == {"$set": {"direct_deposit": False}}
    assert standin.refused == []


@pytest.mark.parametrize(
    ("properties", "valid"),
    [({"$set": {"churn_risk": True}}, True), ({"churn_risk": True}, True),
     ({"$set": {"a": 1}, "$unset": {"b": "-"}}, True), ({"$clearAll": "-"}, True),
     ({"$set": {"a": 1}, "churn_risk": True}, False),  # operations and plain ones mixed
     ({"$set": True}, False), ({"$upsert": {"a": 1}}, False)],
)  # fmt: skip
def test_amplitudes_stand_in_takes_user_properties_as_the_identify_api_documents(
    properties: dict[str, Any], valid: bool
) -> None:
    event = {"event_type": "$identify", "user_id": "user-0001", "user_properties": properties}
    problems = amplitude.event_problems(event, 5)
    assert (problems == []) is valid, problems
