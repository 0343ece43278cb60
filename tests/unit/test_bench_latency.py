"""The latency bench's pure parts: latency per path from send and arrival times, the verdict
against the 2 s target, its table, the load it sends, and which events each destination takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.figures import PathLatency, latency_misses, latency_table, path_latency
from bench.latency import expected, intercom_arrivals, last_identifies
from bench.steady import PROBE_TRAIT, Load


def test_latency_is_from_send_to_arrival_and_missing_events_are_counted_apart() -> None:
    sent = {f"m{n}": 100.0 for n in range(1, 101)}
    arrived = {f"m{n}": 100.0 + n / 100 for n in range(1, 101) if n != 50}  # m50 lost
    found = path_latency("p", sent, arrived, sent)
    assert (found.expected, found.arrived, found.missing) == (100, 99, 1)
    assert found.p50 == pytest.approx(0.51)  # nearest rank 50 of 99 (0.50 is missing)
    assert found.p95 == pytest.approx(0.96)  # rank 95 of 99
    assert found.p99 == pytest.approx(1.0)  # the last of 99


def test_only_expected_events_that_were_sent_count() -> None:
    found = path_latency("p", {"a": 1.0}, {"a": 2.0, "b": 1.5}, ["a", "c"])
    assert (found.expected, found.arrived, found.p50) == (1, 1, 1.0)


def test_an_arrival_stamped_before_the_send_counts_as_zero() -> None:
    assert path_latency("p", {"a": 2.0}, {"a": 1.999}, ["a"]).p99 == 0.0


def path(name: str, p95: float, arrived: int = 10, expected: int = 10) -> PathLatency:
    return PathLatency(name, expected, arrived, p95 / 2, p95, p95)


@pytest.mark.parametrize(
    ("paths", "misses"),
    [
        ([path("profile", 1.99)], []),
        ([path("profile", 2.0)], ["profile: p95 2.00 s (target < 2 s)"]),
        ([path("profile", 1.0, arrived=9)], ["profile: 1 of 10 events never arrived"]),
        ([path("profile", 0.0, arrived=0)], ["profile: none of 10 events arrived"]),
        ([path("warehouse", 60.0)], []),  # not judged
        (
            [path("amplitude", 3.0, arrived=8), path("profile", 0.5)],
            ["amplitude: p95 3.00 s (target < 2 s)", "amplitude: 2 of 10 events never arrived"],
        ),
    ],
)
def test_the_verdict_judges_p95_and_missing_events_of_the_judged_paths(
    paths: list[PathLatency], misses: list[str]
) -> None:
    assert latency_misses(paths, judged=["profile", "amplitude"]) == misses


def test_the_latency_table_prints_seconds_aligned() -> None:
    lines = latency_table([path("event -> profile", 0.25), path("event -> webhook", 12.5)])
    assert lines[2].split()[-5:] == ["10", "10", "0.12s", "0.25s", "0.25s"]
    assert lines[3].split()[-3:] == ["6.25s", "12.50s", "12.50s"]
    assert len({len(line) for line in lines}) == 1


def test_the_load_sends_unique_ids_stamped_when_sent_a_third_of_them_identifies() -> None:
    load = Load("run1", users=4, batch=6)
    at = datetime(2026, 12, 2, 18, 0, 0, 250000, tzinfo=UTC)
    ids, body = load.request(1, at)
    events = json.loads(body)["batch"]
    assert ids == [f"run1-{n}" for n in range(6, 12)] == [e["messageId"] for e in events]
    assert {e["timestamp"] for e in events} == {"2026-12-02T18:00:00.250000Z"}
    assert [e["type"] for e in events] == ["identify", "track", "track"] * 2
    assert events[0]["traits"][PROBE_TRAIT] == "run1-6"
    assert [e["userId"] for e in events] == [f"run1-u{n % 4}" for n in range(6, 12)]
    assert all(e["anonymousId"] == f"{e['userId']}-laptop" for e in events)
    assert {e["event"] for e in events if e["type"] == "track"} == {"card_activated"}


def test_each_destination_expects_the_call_types_it_takes() -> None:
    load = Load("r")
    numbers = {f"r-{n}": n for n in range(6)}  # 0 and 3 identify
    assert expected("amplitude", load, numbers) == set(numbers)
    assert expected("webhook", load, numbers) == set(numbers)  # every call type
    assert expected("meta", load, numbers) == {"r-1", "r-2", "r-4", "r-5"}
    assert expected("firebase", load, numbers) == {"r-1", "r-2", "r-4", "r-5"}


def test_intercom_tracks_are_matched_by_user_name_and_second() -> None:
    load = Load("r", users=10)
    numbers = {"r-0": 0, "r-1": 1, "r-2": 2}  # r-0 identifies (Intercom keys it by contact)
    at = {"r-0": 1000.2, "r-1": 1000.2, "r-2": 1000.9}
    first = {
        "r-u1|card_activated|1000": 1001.5,
        "contact:r-u0": 1000.6,
        "r-u2|card_activated|999": 1002.0,  # another second: not this event
    }
    tracks, arrived = intercom_arrivals(first, load, numbers, at)
    assert tracks == {"r-1", "r-2"}
    assert arrived == {"r-1": 1001.5}


def test_only_each_users_last_identify_is_expected_on_the_profile() -> None:
    load = Load("r", users=2)  # identifies at 0, 3, 6, 9: users 0, 1, 0, 1
    numbers = {f"r-{n}": n for n in range(10)}
    assert last_identifies(load, numbers) == {"r-6": "r-u0", "r-9": "r-u1"}
    assert last_identifies(Load("r", users=500), numbers) == {
        "r-0": "r-u0", "r-3": "r-u3", "r-6": "r-u6", "r-9": "r-u9",
    }  # fmt: skip
