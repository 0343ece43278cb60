"""The cost model's arithmetic (operations x prices, hand-computed) and the operations it
counts for one engaged track and one cold page through the real handlers."""

from __future__ import annotations

import pytest

from bench.cost import billed, dollars
from bench.cost_ops import COLD, ENGAGED, Pipeline, Tally
from shared.topology import COLD_EVENTS, EVENTS


@pytest.mark.parametrize(
    ("quantities", "expected"),
    [
        ({"invocations": 1_000_000}, 0.40),
        ({"vcpu_seconds": 1000}, 0.024),
        ({"gib_seconds": 1000}, 0.0025),
        ({"pubsub_bytes": 1024**4}, 40.0),
        ({"firestore_reads": 100_000, "firestore_writes": 100_000}, 0.03 + 0.09),
        ({"bigquery_streaming_bytes": 2 * 1024**3}, 0.10),
        ({"bigquery_query_bytes": 1024**4 // 2}, 3.125),
        ({"ga4_requests": 1000}, 0.0),
    ],
)
def test_quantities_times_list_prices(quantities: dict[str, float], expected: float) -> None:
    assert sum(dollars(quantities).values()) == pytest.approx(expected)


def test_cpu_time_is_billed_as_instance_time_of_a_third_of_a_vcpu_and_half_a_gib() -> None:
    # 3 ms of CPU on 1/3 vCPU hold the instance 9 ms: 3 vCPU-ms and 4.5 GiB-ms
    out = billed({"vcpu_seconds": 0.003, "invocations": 2})
    assert out == pytest.approx({"vcpu_seconds": 0.003, "gib_seconds": 0.0045, "invocations": 2})


def test_a_shared_cost_is_split_evenly_and_averaged_per_event() -> None:
    tally = Tally()
    owners = [(ENGAGED, "track"), (ENGAGED, "track"), (COLD, "page")]
    for owner in owners:
        tally.events[owner] += 1
    tally.share(owners, invocations=3, pubsub_bytes=3000)
    tally.share(owners[:2], firestore_writes=4)
    engaged = tally.per_event(lambda k: k[0] == ENGAGED)
    assert engaged["invocations"] == pytest.approx(1.0)
    assert engaged["firestore_writes"] == pytest.approx(2.0)
    assert tally.per_event(lambda k: k[0] == COLD)["firestore_writes"] == 0


def _page(n: int) -> dict[str, object]:
    return {
        "type": "page",
        "name": "home",
        "anonymousId": f"visitor-{n}",
        "messageId": f"page-{n}",
        "timestamp": "2026-12-01T10:00:00Z",
    }


def _track(n: int) -> dict[str, object]:
    return {
        "type": "track",
        "event": "transfer_sent",
        "userId": f"user-{n}",
        "anonymousId": f"device-{n}",
        "messageId": f"track-{n}",
        "timestamp": "2026-12-01T10:00:00Z",
    }


def test_a_cold_page_goes_to_ga4_and_the_archive_and_publishes_nothing_engaged() -> None:
    pipeline = Pipeline()
    pipeline.send("web", [_page(1)])
    topics = [m.topic for m in pipeline.publisher.messages]
    assert topics == [COLD_EVENTS]
    assert dict(pipeline.tally.events) == {(COLD, "page"): 1}
    ops = pipeline.tally.per_event(lambda k: True)
    assert ops["invocations"] == 3  # ingest, the GA4 forwarder, the loader
    assert ops["ga4_requests"] == 1
    assert ops["pubsub_bytes"] == 1000 * 3  # one message under 1 KB, published, delivered twice
    assert ops["bigquery_streaming_bytes"] == 1024  # one archive row, at the 1 KB minimum
    assert set(pipeline.cpu) == {"ingest", "ga4", "loader"}
    assert pipeline.mtus == 0


def test_an_engaged_track_goes_through_identity_and_the_warehouse_not_ga4() -> None:
    pipeline = Pipeline()
    pipeline.send("ios", [_track(1)])
    topics = [m.topic for m in pipeline.publisher.messages]
    assert topics[0] == EVENTS and COLD_EVENTS not in topics
    assert dict(pipeline.tally.events) == {(ENGAGED, "track"): 1}
    ops = pipeline.tally.per_event(lambda k: True)
    assert ops["ga4_requests"] == 0
    assert ops["firestore_writes"] > 0  # a new profile
    assert set(pipeline.cpu) == {"ingest", "identity", "loader"}
    # ingest, identity, the loader of the events and of each further message (changes)
    assert ops["invocations"] == 3 + (len(topics) - 1)
    assert pipeline.mtus == 1
