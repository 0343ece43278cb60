"""The enter/exit events: their shape and ids, and that they go through ingest's governance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.audiences.emit import (
    AUDIENCES_SOURCE,
    ENTERED_EVENT,
    EXITED_EVENT,
    LIBRARY,
    emit,
    events_for,
    properties,
)
from shared.audiences.memberships import (
    DELETED,
    ENTERED,
    EXITED,
    MERGED,
    Person,
    Transition,
    message_id,
)
from shared.bootstrap import Services
from shared.governance.privacy.suppression import SuppressionList
from shared.identity.identifiers import Identifier
from shared.ports.publisher import InMemoryPublisher
from shared.topology import COLD_EVENTS, EVENTS
from tests.fakes import fake_services

AS_OF = datetime(2026, 1, 8, 12, 0, 0, tzinfo=UTC)
AT = "2026-01-08T12:00:00.000Z"


@dataclass(frozen=True)
class Audience:
    name: str
    high_value_threshold: float | None = None
    carry: list[str] = field(default_factory=list)


AUDIENCES = {
    "churn_risk": Audience("Churn risk", 500, ["transaction_volume_30d"]),
    "direct_deposit": Audience("Direct deposit enabled"),
}


def published(services: Services, topic: str = EVENTS) -> list[dict[str, Any]]:
    assert isinstance(services.publisher, InMemoryPublisher)
    return [e for m in services.publisher.on(topic) for e in json.loads(m.data)["events"]]


def test_properties_carry_traits_and_high_value() -> None:
    churn = AUDIENCES["churn_risk"]
    assert properties("churn_risk", churn, {"transaction_volume_30d": 500.0, "other": 1}) == {
        "audience_key": "churn_risk",
        "audience_name": "Churn risk",
        "high_value": True,
        "transaction_volume_30d": 500.0,
    }
    low = properties("churn_risk", churn, {"transaction_volume_30d": 499.99})
    assert low["high_value"] is False
    unset = properties("churn_risk", churn, {})
    assert unset["high_value"] is False and "transaction_volume_30d" not in unset
    plain = properties("direct_deposit", AUDIENCES["direct_deposit"], {"x": 1})
    assert plain == {"audience_key": "direct_deposit", "audience_name": "Direct deposit enabled"}


def test_a_threshold_without_carried_traits_reads_the_volume() -> None:
    audience = Audience("Big", 100)
    assert properties("big", audience, {"transaction_volume_30d": 120})["high_value"] is True


def test_an_entry_is_a_track_and_an_identify_with_deterministic_ids() -> None:
    person = Person("p1", "u1", "d1", {"transaction_volume_30d": 612.5}, frozenset())
    entry = Transition("churn_risk", "p1", "u1", "d1", ENTERED)
    track, identify = events_for([entry], {"p1": person}, AUDIENCES, AS_OF)
    mid = message_id("churn_risk", "p1", ENTERED, AS_OF)
    common = {
        "userId": "u1",
        "timestamp": AT,
        "receivedAt": AT,
        "context": {"library": LIBRARY},
        "sourceId": "audiences",
        "sourceName": "Audiences",
    }
    assert track == {
        "type": "track",
        "event": ENTERED_EVENT,
        "messageId": mid,
        "properties": {
            "audience_key": "churn_risk",
            "audience_name": "Churn risk",
            "high_value": True,
            "transaction_volume_30d": 612.5,
        },
        **common,
    }
    assert identify == {
        "type": "identify",
        "messageId": f"{mid}-identify",
        "traits": {"churn_risk": True},
        **common,
    }
    assert events_for([entry], {"p1": person}, AUDIENCES, AS_OF) == [track, identify]


def test_an_exit_sets_the_trait_false_and_an_anonymous_person_is_addressed_by_device() -> None:
    exit_ = Transition("direct_deposit", "p2", None, "device-2", EXITED)
    track, identify = events_for([exit_], {}, AUDIENCES, AS_OF)
    assert (track["event"], track["anonymousId"], "userId" in track) == (
        EXITED_EVENT, "device-2", False
    )  # fmt: skip
    assert identify["traits"] == {"direct_deposit": False}


def test_merges_deletions_unknown_audiences_and_unaddressable_people_emit_nothing() -> None:
    moves = [
        Transition("churn_risk", "p1", "u1", None, EXITED, MERGED),
        Transition("churn_risk", "p2", "u2", None, ENTERED, MERGED),
        Transition("churn_risk", "p3", "u3", None, EXITED, DELETED),
        Transition("removed_audience", "p4", "u4", None, ENTERED),
        Transition("churn_risk", "p5", None, None, EXITED),
    ]
    assert events_for(moves, {}, AUDIENCES, AS_OF) == []


def test_emitted_events_pass_governance_unflagged_and_reach_the_engaged_topic() -> None:
    services = fake_services()
    people = {
        "p1": Person("p1", "u1", None, {"transaction_volume_30d": 20.0}, frozenset()),
        "p2": Person("p2", "u2", None, {}, frozenset()),
    }
    moves = [
        Transition("churn_risk", "p1", "u1", None, ENTERED),
        Transition("direct_deposit", "p2", "u2", None, EXITED),
    ]
    events = events_for(moves, people, AUDIENCES, AS_OF)
    result = emit(services.ingest, events)
    assert (result.accepted, result.failed, result.flagged, result.suppressed) == (4, 0, 0, 0)
    got = published(services)
    assert [e["messageId"] for e in got] == [e["messageId"] for e in events]
    assert all(e["sourceId"] == AUDIENCES_SOURCE.id for e in got)
    assert published(services, COLD_EVENTS) == []
    again = emit(services.ingest, events)  # a retried run: the same ids are duplicates
    assert (again.accepted, again.duplicates) == (0, 4)


def test_a_suppressed_persons_events_are_dropped_by_the_gate() -> None:
    services = fake_services()
    listed = SuppressionList(services.documents, services.settings.pii_hash_key)
    listed.add(listed.hashes([Identifier("user_id", "u1")]), "req-1", AT)
    moves = [Transition("direct_deposit", "p1", "u1", None, ENTERED),
             Transition("direct_deposit", "p2", "u2", None, ENTERED)]  # fmt: skip
    result = emit(services.ingest, events_for(moves, {}, AUDIENCES, AS_OF))
    assert (result.accepted, result.suppressed) == (2, 2)
    assert {e["userId"] for e in published(services)} == {"u2"}


def test_many_events_go_in_chunks() -> None:
    services = fake_services()
    moves = [Transition("direct_deposit", f"p{n}", f"u{n}", None, ENTERED) for n in range(120)]
    result = emit(services.ingest, events_for(moves, {}, AUDIENCES, AS_OF))
    assert result.accepted == 240
    assert len(published(services)) == 240
