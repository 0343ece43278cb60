"""Cloud Scheduler's local stand-in: POSTs {"job": name} to the HTTP function on each cron tick."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from shared.topology import Schedule


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    local = after.astimezone(ZoneInfo(schedule.time_zone))
    fire: datetime = croniter(schedule.cron, local).get_next(datetime)
    return fire.astimezone(UTC)


def trigger(url: str, job: str, timeout: float = 600.0) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"job": job}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        result: dict[str, object] = json.loads(answer.read() or b"{}")
        return result


class LocalScheduler:
    def __init__(self, schedules: Sequence[Schedule], urls: Mapping[str, str]) -> None:
        self._schedules = list(schedules)
        self._urls = dict(urls)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self.runs: list[tuple[str, datetime, str]] = []  # (job, when, outcome)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        now = datetime.now(UTC)
        due = {s.name: next_fire(s, now) for s in self._schedules}
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for schedule in self._schedules:
                if due[schedule.name] <= now:
                    due[schedule.name] = next_fire(schedule, now)
                    self._run(schedule, now)
            wait = min([(d - now).total_seconds() for d in due.values()], default=60.0)
            self._stop.wait(max(0.5, min(wait, 30.0)))

    def _run(self, schedule: Schedule, now: datetime) -> None:
        try:
            outcome = json.dumps(trigger(self._urls[schedule.function], schedule.name))
        except Exception as error:  # a failed run is reported and retried at the next tick
            outcome = f"failed: {error}"
        self.runs.append((schedule.name, now, outcome))
        print(f"schedule {schedule.name}: {outcome}", flush=True)
