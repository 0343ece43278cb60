"""Letting in-flight pushes finish before the local stack stops.

Pub/Sub's emulator keeps nothing across a restart and reports no backlog, so a stop that kept
the other stores (``cdp dev --keep-data``) would lose what was published but not yet handled:
an event in Firestore's profile but not in the warehouse. Every push is work in a function
process or an emulator, so the stack waits until those processes, together, have used almost
no CPU for a few consecutive windows (``quiet``), at most ``timeout`` seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
WINDOW_SECONDS = 0.5
BUSY_CPU_SECONDS = 0.05  # over a window: a tenth of a core, above idle JVMs' housekeeping
QUIET_WINDOWS = 3


@dataclass(frozen=True)
class Drained:
    quiet: bool  # False: still busy at the timeout, or CPU time could not be read
    seconds: float

    def message(self) -> str:
        if self.quiet:
            return f"in-flight pushes drained in {self.seconds:.1f} s"
        return f"still busy after {self.seconds:.0f} s: stopping anyway (pushes may be lost)"


def quiet(
    used: Sequence[float], busy: float = BUSY_CPU_SECONDS, windows: int = QUIET_WINDOWS
) -> bool:
    """Whether the last ``windows`` windows each used less than ``busy`` CPU seconds."""
    return len(used) >= windows and all(u < busy for u in used[-windows:])


def group_cpu_seconds(pgids: Sequence[int], proc: Path = PROC) -> float | None:
    """User and system CPU time of every process in these process groups (Linux ``/proc``);
    None where it cannot be read."""
    if not proc.is_dir():
        return None
    wanted, ticks, total = set(pgids), os.sysconf("SC_CLK_TCK"), 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) in wanted:  # after the name: state, ppid, pgrp, ..., utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def drain(
    pgids: Sequence[int],
    timeout: float = 30.0,
    cpu: Callable[[Sequence[int]], float | None] = group_cpu_seconds,
    window: float = WINDOW_SECONDS,
) -> Drained:
    """Wait until the processes are quiet, or ``timeout`` seconds have passed."""
    started = time.monotonic()
    used: list[float] = []
    last = cpu(pgids)
    while last is not None and time.monotonic() - started < timeout:
        time.sleep(window)
        now = cpu(pgids)
        if now is None:
            break
        used.append(now - last)
        last = now
        if quiet(used):
            return Drained(True, time.monotonic() - started)
    return Drained(False, time.monotonic() - started)
