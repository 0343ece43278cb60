"""The burst bench's pure parts: percentiles, the verdict against the targets, batching, and
the population it checks profiles against."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.population import BATCH_SIZE, BLOCKED_ANONYMOUS_ID, batches, generate
from bench.probes import Outcome, misses, percentile
from shared.identity.config import IdentityConfig


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, 0.0),
        ([3.0], 99, 3.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),
        ([float(n) for n in range(1, 101)], 99, 99.0),
        ([float(n) for n in range(1, 101)], 100, 100.0),
        ([1.0, 2.0], 1, 1.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome(60, 0, 0, 12.0), []),
        (Outcome(60, 0, 0, 30.0), []),
        (Outcome(60, 0, 3, 12.0), ["3 of 60 requests over 2 s"]),
        (Outcome(60, 2, 0, 12.0), ["2 of 60 requests not answered 200"]),
        (Outcome(60, 0, 0, 30.5), ["profiles right 30.5 s after the last request (target 30 s)"]),
        (
            Outcome(60, 0, 1, None),
            ["1 of 60 requests over 2 s", "profiles not all right within 30 s"],
        ),
    ],
)
def test_misses_name_each_target_missed(outcome: Outcome, expected: list[str]) -> None:
    assert misses(outcome) == expected


def test_batches_cut_per_source_at_their_sizes_in_the_order_they_fill() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    timeline = [(at, source, {"n": n}) for n, source in enumerate("wwiwiwa")]
    cut = batches([(t, {"w": "web", "i": "ios", "a": "android"}[s], e) for t, s, e in timeline],
                  sizes=[2, 2, 5, 1])  # fmt: skip
    # First sizes go to web, ios, android; the next ones to whichever source fills next.
    assert [(b.source, [e["n"] for e in b.events]) for b in cut] == [
        ("web", [0, 1]),
        ("web", [3]),
        ("ios", [2, 4]),
        ("web", [5]),
        ("android", [6]),
    ]


def test_the_population_is_the_size_the_issue_measured_and_blocked_values_link_nothing() -> None:
    population = generate()
    config = IdentityConfig()
    assert len(population.people) == 300
    assert 3_300 <= population.events <= 3_800
    assert all(len(b.events) <= BATCH_SIZE for b in population.batches)
    seen: set[object] = set()
    for person in population.people:
        found = person.identifiers(config)
        assert not found & seen  # nobody shares an identifier: one profile per person
        assert all(i.value != BLOCKED_ANONYMOUS_ID for i in found)
        seen |= found
        assert person.identified == any(i.type == "user_id" for i in found)
