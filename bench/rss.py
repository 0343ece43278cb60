"""Resident memory of the local stack's processes, from Linux ``/proc`` (psutil is not in the
venv): each server runs in its own process group (``ManagedProcess``), so a process's figure
is the sum of ``VmRSS`` over its group (a JVM under its wrapper script, gunicorn's workers)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def group_rss_mib(pgids: Iterable[int], proc: Path = PROC) -> dict[int, float]:
    """MiB resident per process group, 0.0 for a group with no live process."""
    wanted = set(pgids)
    totals = dict.fromkeys(wanted, 0.0)
    for entry in proc.glob("[0-9]*"):
        try:
            group = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if group not in wanted:
                continue
            status = (entry / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                totals[group] += int(line.split()[1]) / 1024  # kB
    return totals
