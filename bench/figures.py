"""The pure figures of ``bench.latency`` and ``bench.soak``: latency per path from send and
arrival times, the latency verdict, and the soak's per-minute table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.probes import percentile
from bench.steady import Sent

TARGET_SECONDS = 2.0  # p95, event to profile and to each destination


@dataclass(frozen=True)
class PathLatency:
    path: str
    expected: int
    arrived: int
    p50: float
    p95: float
    p99: float

    @property
    def missing(self) -> int:
        return self.expected - self.arrived


def path_latency(
    path: str, sent: Mapping[str, float], arrived: Mapping[str, float], expected: Iterable[str]
) -> PathLatency:
    """Seconds from each expected event's send to its arrival; events not arrived are counted
    as missing, not as a latency (the verdict fails on them separately)."""
    wanted = [i for i in expected if i in sent]
    seconds = [max(0.0, arrived[i] - sent[i]) for i in wanted if i in arrived]
    return PathLatency(
        path,
        len(wanted),
        len(seconds),
        percentile(seconds, 50),
        percentile(seconds, 95),
        percentile(seconds, 99),
    )


def latency_misses(
    paths: Sequence[PathLatency], judged: Iterable[str], target: float = TARGET_SECONDS
) -> list[str]:
    """The judged paths over the p95 target, with none of their events or some missing."""
    wanted = set(judged)
    found = []
    for p in paths:
        if p.path not in wanted:
            continue
        if p.arrived == 0:
            found.append(f"{p.path}: none of {p.expected} events arrived")
            continue
        if p.p95 >= target:
            found.append(f"{p.path}: p95 {p.p95:.2f} s (target < {target:g} s)")
        if p.missing:
            found.append(f"{p.path}: {p.missing} of {p.expected} events never arrived")
    return found


def latency_table(paths: Sequence[PathLatency]) -> list[str]:
    head = f"  {'path':<34} {'events':>7} {'arrived':>8} {'p50':>8} {'p95':>8} {'p99':>8}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    for p in paths:
        figures = " ".join(f"{s:>7.2f}s" for s in (p.p50, p.p95, p.p99))
        lines.append(f"  {p.path:<34} {p.expected:>7} {p.arrived:>8} {figures}")
    return lines


@dataclass(frozen=True)
class Minute:
    minute: int
    sent: int  # events in requests sent
    accepted: int  # events in requests answered 200
    errors: int  # events in requests answered otherwise, or not at all
    seconds: float
    p50: float
    p99: float
    backlog: int | None  # end-to-end backlog at the minute's end (None: not measured)

    @property
    def throughput(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def minute_of(minute: int, sent: Sequence[Sent], seconds: float, backlog: int | None) -> Minute:
    events = [len(s.ids) for s in sent]
    ok = sum(n for s, n in zip(sent, events, strict=True) if s.status == 200)
    latency = [s.seconds for s in sent]
    return Minute(
        minute,
        sum(events),
        ok,
        sum(events) - ok,
        seconds,
        percentile(latency, 50),
        percentile(latency, 99),
        backlog,
    )


def minute_table(minutes: Sequence[Minute]) -> list[str]:
    head = (
        f"  {'minute':>6} {'sent':>7} {'accepted':>9} {'errors':>7} {'events/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'backlog':>8}"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for m in minutes:
        backlog = "-" if m.backlog is None else f"{m.backlog:,}"
        lines.append(
            f"  {m.minute:>6} {m.sent:>7,} {m.accepted:>9,} {m.errors:>7,} {m.throughput:>9.1f} "
            f"{m.p50 * 1000:>8.0f} {m.p99 * 1000:>8.0f} {backlog:>8}"
        )
    return lines
