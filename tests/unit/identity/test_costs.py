"""What an event costs in document reads and writes, counted on the fake (which counts as
Firestore bills): the figures `make bench` prints, asserted structurally."""

from __future__ import annotations

from bench.identity import MERGE_SIZES, Cost, costs, merge_cost


def test_a_known_users_event_costs_one_read_and_at_most_one_write() -> None:
    found = costs()
    # Within the hour of the profile's last_seen, an event that changes nothing writes nothing.
    assert found["known user, this instance"] == Cost(1, 0)
    assert found["known user, same instance again"] == Cost(1, 0)
    assert found["known user, an hour later"] == Cost(1, 1)  # last_seen moves
    # An instance that has never seen the user looks its identifiers up once.
    assert found["known user, another instance"] == Cost(3, 0)
    # The events of one message share the read and the write.
    assert found["known user, 10 events in one message (together)"] == Cost(1, 1)


def test_a_new_user_costs_a_read_per_identifier_and_a_write_per_document() -> None:
    assert costs()["new user (userId + anonymousId)"] == Cost(2, 3)


def test_a_merge_costs_the_same_whatever_the_size_of_the_profiles() -> None:
    found = {merge_cost(size) for size in (*MERGE_SIZES, 250)}
    assert found == {Cost(4, 3)}  # two identifiers, two profiles; survivor, pointer, compaction
