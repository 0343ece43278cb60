"""The soak's pure decisions: whether a short window at one rate kept up, which rate to try
next, the sustainable rate, ingest's maximum from its ramp, whether memory stayed flat, and
which events a store lost.

A window keeps up when the end-to-end backlog (accepted events some store does not show yet)
did not grow between the window's middle and its end by more than the slack, and the
generator achieved the rate (else ingest, not the stores, was the limit). The backlog of a
stack that keeps up is about rate x latency and stays put once the first events have gone
through (hence the middle, not the start); the slack allows for a sample landing while a few
requests' events are on their way (``SLACK_SECONDS`` of events, at least ``SLACK_EVENTS``).

RSS is judged after warm-up, against the larger of ``RSS_GROWTH`` and ``RSS_SLACK_MIB``: the
functions hold bounded caches that fill during a run (ingest's recent messageIds and tier
caches, identity's identifier cache), and CPython keeps freed arenas, so a flat process still
grows a little; a leak of 1 KiB per event grows by about 35 MiB in a 10-minute soak at 60
events/s, over the bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SLACK_SECONDS = 3.0
SLACK_EVENTS = 40
ACHIEVED_SHARE = 0.9  # of the target rate, else the generator or ingest fell behind
RATE_FACTOR = 1.5
RSS_GROWTH = 0.20
RSS_SLACK_MIB = 30.0


@dataclass(frozen=True)
class Step:
    rate: float  # target events/s
    achieved: float  # accepted events/s
    backlog_early: int  # at the window's middle
    backlog_end: int
    errors: int = 0

    @property
    def growth(self) -> int:
        return self.backlog_end - self.backlog_early


def keeps_up(step: Step) -> bool:
    allowed = max(SLACK_EVENTS, step.rate * SLACK_SECONDS)
    return (
        step.errors == 0 and step.achieved >= ACHIEVED_SHARE * step.rate and step.growth <= allowed
    )


def next_rate(steps: Sequence[Step], start: float, ceiling: float) -> float | None:
    """The next rate of the search, or None when it is over: the last window fell behind,
    or the next rate would pass ``ceiling``."""
    if not steps:
        return start
    if not keeps_up(steps[-1]):
        return None
    following = steps[-1].rate * RATE_FACTOR
    return following if following <= ceiling else None


def sustainable(steps: Sequence[Step]) -> float | None:
    """The highest rate kept up before the first window that fell behind."""
    best = None
    for step in steps:
        if not keeps_up(step):
            break
        best = step.rate
    return best


def ramp_maximum(achieved: Sequence[tuple[float, float, int]]) -> float:
    """Ingest's maximum from its ramp of (target, achieved, errors): the best achieved rate
    of the windows that answered every request."""
    return max((got for _, got, errors in achieved if errors == 0), default=0.0)


def ramp_next(
    achieved: Sequence[tuple[float, float, int]], start: float, ceiling: float
) -> float | None:
    """Double the rate while ingest keeps pace (achieves ``ACHIEVED_SHARE`` with no errors)."""
    if not achieved:
        return start
    target, got, errors = achieved[-1]
    if errors or got < ACHIEVED_SHARE * target or target * 2 > ceiling:
        return None
    return target * 2


@dataclass(frozen=True)
class Rss:
    name: str
    start_mib: float
    end_mib: float

    @property
    def bound_mib(self) -> float:
        return self.start_mib + max(self.start_mib * RSS_GROWTH, RSS_SLACK_MIB)

    @property
    def flat(self) -> bool:
        return self.end_mib <= self.bound_mib


def rss_misses(samples: Iterable[Rss]) -> list[str]:
    return [
        f"{s.name}: RSS {s.start_mib:.0f} -> {s.end_mib:.0f} MiB (bound {s.bound_mib:.0f} MiB)"
        for s in samples
        if not s.flat
    ]


@dataclass(frozen=True)
class Lost:
    store: str
    expected: int
    lost: int
    duplicated: int


def lost_of(store: str, expected: Iterable[str], seen: Mapping[str, int]) -> Lost:
    wanted = set(expected)
    return Lost(
        store,
        len(wanted),
        sum(1 for k in wanted if seen.get(k, 0) == 0),
        sum(1 for k in wanted if seen.get(k, 0) > 1),
    )


def backlog(expected: Mapping[str, int], arrived: Mapping[str, int]) -> tuple[int, str]:
    """Events some store does not show yet: the largest shortfall among the stores, and the
    store ("" when none is short)."""
    short = [(expected[s] - arrived.get(s, 0), s) for s in sorted(expected)]
    worst = max(short, default=(0, ""))
    return worst if worst[0] > 0 else (0, "")
