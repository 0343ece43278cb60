"""The identity function through functions-framework's test client, on fakes: profiles
resolved, identity changes published after the transactions commit, and a failed publish
answered 500 so that Pub/Sub redelivers and the same changes are published again."""

from __future__ import annotations

import json

from shared.bootstrap import Services
from shared.identity.changes import IdentityChange
from shared.ports.publisher import InMemoryPublisher
from shared.topology import IDENTITY_CHANGES
from tests.fakes import client, push_body
from tests.unit.identity.helpers import journey


def published(publisher: InMemoryPublisher) -> list[IdentityChange]:
    return [
        IdentityChange.from_json(c)
        for m in publisher.on(IDENTITY_CHANGES)
        for c in json.loads(m.data)["events"]
    ]


def test_the_journey_publishes_one_message_of_changes_per_delivery(services: Services) -> None:
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    identity = client("identity")
    assert identity.post("/", json=push_body(journey()[:3])).status_code == 200
    assert identity.post("/", json=push_body(journey()[3:])).status_code == 200
    assert len(publisher.on(IDENTITY_CHANGES)) == 2
    changes = published(publisher)
    assert [c.change for c in changes] == ["created", "linked", "created", "linked", "merged"]
    merge = changes[-1]
    assert merge.profile_id == changes[0].profile_id
    assert merge.absorbed_profile_id == changes[2].profile_id
    assert [(a.type, a.value) for a in merge.assignments] == [("anonymous_id", "bbb-bbb-bbb")]
    assert merge.message_id == "m5-mobile-login" and merge.source_id == "ios"


def test_a_failed_publish_is_redelivered_and_republishes_the_same_changes(
    services: Services,
) -> None:
    publisher = services.publisher
    assert isinstance(publisher, InMemoryPublisher)
    identity = client("identity")
    publisher.fail_next = 1
    assert identity.post("/", json=push_body(journey())).status_code == 500
    assert publisher.on(IDENTITY_CHANGES) == []
    assert identity.post("/", json=push_body(journey())).status_code == 200  # redelivery
    first = [c.change_id for c in published(publisher)]
    assert len(first) == 5 and len(set(first)) == 5
    assert identity.post("/", json=push_body(journey())).status_code == 200  # once more
    assert [c.change_id for c in published(publisher)] == first * 2  # downstream dedups


def test_messages_that_are_not_events_are_acknowledged_untouched(services: Services) -> None:
    assert client("identity").post("/", json=push_body([], kind="failed")).status_code == 200
    assert services.documents.list("profiles") == []
