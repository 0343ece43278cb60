"""A stop waits for in-flight pushes: when the stack's processes count as quiet, how long it
waits, and the CPU time it reads from /proc."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from shared.local.drain import drain, group_cpu_seconds, quiet


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        ([], False),
        ([0.0, 0.0], False),  # not enough windows yet
        ([0.0, 0.0, 0.0], True),
        ([0.4, 0.01, 0.02, 0.0], True),  # busy once, quiet since
        ([0.0, 0.0, 0.2], False),  # a push just arrived
        ([0.0, 0.05, 0.0], False),  # at the threshold counts as busy
    ],
)
def test_quiet(used: list[float], expected: bool) -> None:
    assert quiet(used) is expected


def readings(values: list[float | None]) -> Callable[[Sequence[int]], float | None]:
    remaining = iter(values)

    def cpu(_: Sequence[int]) -> float | None:
        return next(remaining, values[-1])

    return cpu


def test_drain_returns_once_quiet() -> None:
    cpu = readings([0.0, 1.0, 2.0, 2.01, 2.02, 2.03])  # two busy windows, then quiet
    drained = drain([1], timeout=5, cpu=cpu, window=0.01)
    assert drained.quiet and "drained" in drained.message()


def test_drain_gives_up_at_the_timeout() -> None:
    busy = iter(range(10_000))
    drained = drain([1], timeout=0.1, cpu=lambda _: float(next(busy)), window=0.01)
    assert not drained.quiet and "still busy" in drained.message()


def test_drain_without_cpu_readings_does_not_wait() -> None:
    drained = drain([1], timeout=30, cpu=lambda _: None, window=0.01)
    assert not drained.quiet and drained.seconds < 1


def test_group_cpu_seconds_sums_the_groups_processes(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")

    def process(pid: int, name: str, pgrp: int, utime: int, stime: int) -> None:
        (tmp_path / str(pid)).mkdir()
        fields = ["S", "1", str(pgrp), *["0"] * 8, str(utime), str(stime), "0"]
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")

    process(10, "python3", 10, ticks, ticks)  # the group leader: 2 s
    process(11, "java (x) y", 10, ticks // 2, 0)  # a child, odd name: 0.5 s
    process(12, "other", 12, 50 * ticks, 0)  # another group
    assert group_cpu_seconds([10], proc=tmp_path) == pytest.approx(2.5)
    assert group_cpu_seconds([10], proc=tmp_path / "absent") is None
