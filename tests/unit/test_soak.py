"""The soak's pure parts: when a window kept up, the rate search, ingest's ramp, the RSS
verdict, lost events, the backlog, the per-minute table, and RSS read from a /proc tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.figures import Minute, minute_of, minute_table
from bench.rss import group_rss_mib
from bench.soak_rules import (
    Rss,
    Step,
    backlog,
    keeps_up,
    lost_of,
    next_rate,
    ramp_maximum,
    ramp_next,
    rss_misses,
    sustainable,
)
from bench.steady import Sent


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (Step(50, 50, 100, 100), True),  # backlog steady at rate x latency
        (Step(50, 50, 100, 250), True),  # grew by 150 = 3 s of events: the slack
        (Step(50, 50, 100, 251), False),  # grew by more
        (Step(10, 10, 0, 40), True),  # low rates: at least 40 events of slack
        (Step(10, 10, 0, 41), False),
        (Step(50, 44, 0, 0), False),  # the generator fell behind (under 90 %)
        (Step(50, 45, 0, 0), True),
        (Step(50, 50, 0, 0, errors=1), False),  # ingest refused some
        (Step(50, 50, 300, 100), True),  # shrinking
    ],
)
def test_a_window_keeps_up_when_its_backlog_does_not_grow(step: Step, expected: bool) -> None:
    assert keeps_up(step) is expected


KEPT = Step(10, 10, 0, 0)
BEHIND = Step(15, 15, 0, 500)


@pytest.mark.parametrize(
    ("steps", "ceiling", "expected"),
    [
        ([], 100, 10),  # the first window
        ([KEPT], 100, 15),  # x1.5 after one that kept up
        ([KEPT, BEHIND], 100, None),  # over after one that fell behind
        ([KEPT], 14, None),  # the next would pass the ceiling
        ([KEPT], 15, 15),
    ],
)
def test_the_search_raises_the_rate_until_a_window_falls_behind(
    steps: list[Step], ceiling: float, expected: float | None
) -> None:
    assert next_rate(steps, start=10, ceiling=ceiling) == expected


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], None),
        ([BEHIND], None),
        ([KEPT], 10),
        ([KEPT, Step(15, 15, 0, 0), BEHIND], 15),
        ([KEPT, BEHIND, Step(22.5, 22.5, 0, 0)], 10),  # nothing after the first miss counts
    ],
)
def test_the_sustainable_rate_is_the_last_kept_before_the_first_miss(
    steps: list[Step], expected: float | None
) -> None:
    assert sustainable(steps) == expected


@pytest.mark.parametrize(
    ("ramp", "expected"),
    [
        ([], 500),
        ([(500, 500, 0)], 1000),
        ([(500, 500, 0), (1000, 899, 0)], None),  # under 90 % of the target
        ([(500, 500, 0), (1000, 1000, 3)], None),  # errors
        ([(16000, 16000, 0)], None),  # doubling passes the ceiling
    ],
)
def test_the_ingest_ramp_doubles_while_ingest_keeps_pace(
    ramp: list[tuple[float, float, int]], expected: float | None
) -> None:
    assert ramp_next(ramp, start=500, ceiling=20000) == expected


def test_ingest_maximum_is_the_best_window_answered_without_errors() -> None:
    assert ramp_maximum([]) == 0.0
    assert ramp_maximum([(500, 500, 0), (1000, 990, 0), (2000, 1400, 0)]) == 1400
    assert ramp_maximum([(500, 500, 0), (1000, 990, 0), (2000, 1900, 5)]) == 990


@pytest.mark.parametrize(
    ("start", "end", "flat"),
    [
        (100, 130, True),  # +30 MiB: the absolute slack
        (100, 130.5, False),
        (300, 360, True),  # +20 % of 300 = 60 MiB
        (300, 361, False),
        (200, 150, True),  # shrank
    ],
)
def test_rss_is_flat_within_the_larger_of_20_percent_and_30_mib(
    start: float, end: float, flat: bool
) -> None:
    assert Rss("function identity", start, end).flat is flat
    assert bool(rss_misses([Rss("function identity", start, end)])) is not flat


def test_lost_counts_ids_never_seen_and_duplicated_those_seen_twice() -> None:
    found = lost_of("raw", ["a", "b", "c", "d"], {"a": 1, "b": 2, "x": 1})
    assert (found.expected, found.lost, found.duplicated) == (4, 2, 1)


def test_the_backlog_is_the_largest_shortfall_among_the_stores() -> None:
    assert backlog({"raw": 100, "amplitude": 100, "meta": 60}, {"raw": 90, "meta": 60}) == (
        100,
        "amplitude",
    )
    assert backlog({"raw": 100, "meta": 60}, {"raw": 90, "meta": 55}) == (10, "raw")
    assert backlog({"raw": 100}, {"raw": 100}) == (0, "")
    assert backlog({"raw": 100}, {"raw": 101}) == (0, "")  # a copy counted early: not negative
    assert backlog({}, {}) == (0, "")


def sent(status: int, seconds: float, events: int = 20) -> Sent:
    return Sent(0, 0.0, status, seconds, tuple(f"id-{n}" for n in range(events)))


def test_a_minute_counts_events_and_request_latency() -> None:
    requests = [sent(200, 0.010), sent(200, 0.030), sent(503, 0.020), sent(0, 30.0)]
    minute = minute_of(3, requests, 60.0, 12)
    assert (minute.sent, minute.accepted, minute.errors) == (80, 40, 40)
    assert minute.throughput == pytest.approx(40 / 60)
    assert (minute.p50, minute.p99) == (0.020, 30.0)


def test_the_minute_table_has_one_aligned_row_a_minute() -> None:
    rows = [Minute(1, 2400, 2400, 0, 60.0, 0.0123, 0.2, 35), Minute(2, 2400, 2380, 20, 60.0,
                                                                    0.01, 0.5, None)]  # fmt: skip
    lines = minute_table(rows)
    assert lines[0].split() == [
        "minute", "sent", "accepted", "errors", "events/s", "p50", "ms", "p99", "ms", "backlog",
    ]  # fmt: skip
    assert lines[2].split() == ["1", "2,400", "2,400", "0", "40.0", "12", "200", "35"]
    assert lines[3].split() == ["2", "2,400", "2,380", "20", "39.7", "10", "500", "-"]
    assert len({len(line) for line in lines}) == 1


def test_rss_is_summed_over_each_process_group(tmp_path: Path) -> None:
    def process(pid: int, group: int, kb: int | None) -> None:
        folder = tmp_path / str(pid)
        folder.mkdir()
        (folder / "stat").write_text(f"{pid} (java (wrapper)) S 1 {group} {group} 0")
        status = "Name:\tjava\n" + (f"VmRSS:\t{kb} kB\n" if kb is not None else "")
        (folder / "status").write_text(status)

    process(10, 10, 1024)
    process(11, 10, 2048)  # the JVM under its wrapper
    process(20, 20, None)  # a zombie has no VmRSS
    process(30, 30, 4096)  # another group, not asked for
    assert group_rss_mib([10, 20, 40], proc=tmp_path) == {10: 3.0, 20: 0.0, 40: 0.0}
