"""What the soak sent, and what each store shows of it: the end-to-end backlog while it runs
and the census by messageId after the drain (as ``tests/faults/harness.py`` counts a case).

Every event of a soak run has a messageId starting with the run's prefix, so one query or one
scan of a stand-in counts the whole run. The backlog is over the stores that see every event
last: the raw warehouse table and each destination stand-in keyed by messageId (a destination
gets an event only after identity published it, so they cover the profile too); the census
adds the processed tracks and each user's profile.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.arrivals import StandinWatch, stored_count, stored_ids
from bench.soak_rules import Lost, backlog, lost_of
from bench.steady import Load, Sent
from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.destinations.registry import transform_class
from shared.identity.profiles import ProfileRepository
from shared.local.stack import LocalStack

DESTINATIONS = ("amplitude", "meta", "firebase", "webhook")  # stand-ins keyed by messageId
RAW = "raw cdp_raw.events"


@dataclass
class Tracker:
    stack: LocalStack
    project: str
    bq: BigQueryWarehouse
    prefix: str
    accepted: dict[str, str] = field(default_factory=dict)  # messageId -> call type
    users: set[str] = field(default_factory=set)
    batch: int = 20  # events per request
    people: int = 1000  # users the load is spread over (all phases share them)
    watch: StandinWatch | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Tracker:
        self.watch = StandinWatch(self.stack, self.prefix, every=0.2).start()
        return self

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    def load(self, name: str) -> Load:
        people = self.prefix.rstrip("-")  # every phase sends for the same people
        return Load(f"{self.prefix}{name}", users=self.people, batch=self.batch, people=people)

    def recorder(self, load: Load) -> Callable[[Sent], None]:
        """What ``drive`` calls with each answered request: its events count as sent once
        accepted, so the backlog sampled during a window is of what ingest took so far."""

        def record(sent: Sent) -> None:
            if sent.status != 200:
                return
            with self._lock:
                for mid in sent.ids:
                    n = int(mid.rsplit("-", 1)[1])
                    self.accepted[mid] = load.kind(n)
                    self.users.add(load.user(n))

        return record

    def expected(self) -> dict[str, int]:
        with self._lock:
            kinds = Counter(self.accepted.values())
        found = {RAW: len(self.accepted)}
        for name in DESTINATIONS:
            types = transform_class(name).event_types
            found[name] = sum(n for kind, n in kinds.items() if not types or kind in types)
        return found

    def _watched(self) -> StandinWatch:
        if self.watch is None:
            raise RuntimeError("the tracker is not started")
        self.watch.step()
        return self.watch

    def arrived(self) -> dict[str, int]:
        watch = self._watched()
        found = {RAW: stored_count(self.bq, self.project, "cdp_raw.events", self.prefix)}
        for name in DESTINATIONS:
            found[name] = len(watch.first.get(name, {}))
        return found

    def backlog(self) -> int:
        return self.laggard()[0]

    def laggard(self) -> tuple[int, str]:
        """The backlog and the store furthest behind."""
        return backlog(self.expected(), self.arrived())

    def census(self) -> list[Lost]:
        watch = self._watched()
        tracks = [m for m, kind in self.accepted.items() if kind == "track"]
        raw = stored_ids(self.bq, self.project, "cdp_raw.events", self.prefix)
        processed = stored_ids(self.bq, self.project, "cdp_processed.tracks", self.prefix)
        counts = [
            lost_of(RAW, self.accepted, raw),
            lost_of("processed tracks", tracks, processed),
            lost_of("profiles (per user)", self.users, self.profiles()),
        ]
        for name in DESTINATIONS:
            types = transform_class(name).event_types
            wanted = [m for m, kind in self.accepted.items() if not types or kind in types]
            counts.append(lost_of(f"destination {name}", wanted, watch.copies.get(name, {})))
        return counts

    def profiles(self) -> Counter[str]:
        """Per user: 1 when the user id and the device resolve to one profile, 2 when they
        resolve to two (the person split), absent when no profile holds the user."""
        repo = ProfileRepository(FirestoreDocumentStore(self.project))
        seen: Counter[str] = Counter()
        for user in self.users:
            held = repo.find(("user_id", user))
            if held is not None:
                device = repo.find(("anonymous_id", f"{user}-laptop"))
                seen[user] = 1 if device == held else 2
        return seen


def census_table(counts: list[Lost]) -> list[str]:
    head = f"  {'store':<26} {'expected':>9} {'lost':>6} {'duplicated':>11}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    lines += [f"  {c.store:<26} {c.expected:>9,} {c.lost:>6,} {c.duplicated:>11,}" for c in counts]
    return lines
