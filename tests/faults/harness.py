"""Send a known population through ingest, then count it in every store by messageId.

Each case's population is its own: unique messageIds and users, engaged (identified web
tracks with a user agent), so every event reaches the raw and processed tables, a profile,
and each destination that takes tracks. ``census`` reads every store and ``table`` prints
store, sent, stored once, lost and duplicated.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.adapters.bigquery import BigQueryWarehouse
from shared.adapters.firestore import FirestoreDocumentStore
from shared.destinations.registry import transform_class
from shared.identity.profiles import ProfileRepository
from tests.e2e.conftest import eventually, post
from tests.e2e.test_destinations_e2e import keys as delivered
from tests.e2e.test_destinations_e2e import standin as standin

FULL = os.environ.get("CDP_FAULTS_FULL") == "1"
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
# The stand-ins that receive identified web tracks, keyed by messageId.
TRACK_DESTINATIONS = ("amplitude", "firebase")


@dataclass(frozen=True)
class Population:
    run: str
    events: tuple[dict[str, Any], ...]

    @property
    def ids(self) -> set[str]:
        return {str(e["messageId"]) for e in self.events}

    @property
    def users(self) -> set[str]:
        return {str(e["userId"]) for e in self.events}


@dataclass(frozen=True)
class Count:
    store: str
    sent: int
    once: int
    lost: int
    duplicated: int
    resent: int = 0  # copies a provider dropped by its dedup key (not in its store twice)

    @classmethod
    def of(
        cls, store: str, expected: Iterable[str], seen: Counter[str], dedup: bool = False
    ) -> Count:
        """``dedup``: the provider keeps one event per dedup key (Amplitude's insert_id, Meta's
        event_id), so a copy sent again is stored once and counted as ``resent``."""
        wanted = set(expected)
        copies = sum(max(seen[k] - 1, 0) for k in wanted)
        stored = Counter({k: min(seen[k], 1) for k in wanted}) if dedup else seen
        return cls(
            store,
            len(wanted),
            sum(1 for k in wanted if stored[k] == 1),
            sum(1 for k in wanted if stored[k] == 0),
            sum(1 for k in wanted if stored[k] > 1),
            copies if dedup else 0,
        )


def population(case: str, events: int = 30, users: int = 6) -> Population:
    run = f"{case}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    built = tuple(
        {
            "type": "track",
            "event": "card_activated",
            "timestamp": now,
            "messageId": f"{run}-{n}",
            "userId": f"{run}-u{n % users}",
            "anonymousId": f"{run}-u{n % users}-laptop",
            "properties": {"platform": "web", "n": n},
            "context": {
                "userAgent": UA,
                "ip": "203.0.113.9",
                "page": {"url": "https://app.example.com/cards"},
            },
        }
        for n in range(events)
    )
    return Population(run, built)


def send(stack: dict[str, Any], people: Population, batch: int = 10, retry: float = 0) -> int:
    """POST the population in batches; with ``retry`` (seconds), a batch that is not answered
    200 is sent again with backoff, as the SDKs do, for that long. Returns the retries."""
    events = list(people.events)
    retries = 0
    for start in range(0, len(events), batch):
        body = {"batch": events[start : start + batch]}
        deadline, wait = time.monotonic() + retry, 0.5
        while True:
            try:
                status, answer = post(
                    f"{stack['ingest_url']}/v1/batch", body, stack["write_keys"]["web"]
                )
            except OSError as error:  # no answer in time (URLError and timeouts are OSErrors)
                status, answer = 0, {"error": str(error)}
            if status == 200 or time.monotonic() + wait > deadline:
                break
            retries += 1
            time.sleep(wait)
            wait = min(wait * 2, 5.0)
        assert status == 200, answer
    return retries


def rows(stack: dict[str, Any], table: str, people: Population) -> Counter[str]:
    bq = BigQueryWarehouse(stack["project_id"], "EU", stack["environment"]["CDP_BIGQUERY_ENDPOINT"])
    found = bq.query(
        f"SELECT message_id FROM `{stack['project_id']}.{table}` "
        "WHERE STARTS_WITH(message_id, @run)",
        {"run": people.run + "-"},
    )
    return Counter(str(r["message_id"]) for r in found)


def profiles(stack: dict[str, Any], people: Population) -> Counter[str]:
    """Per user: 1 when the user id and the device resolve to one profile, 0 when no profile
    holds the user, 2 when the device resolves elsewhere (the person split in two)."""
    repo = ProfileRepository(FirestoreDocumentStore(stack["project_id"]))
    seen: Counter[str] = Counter()
    for user in people.users:
        held = repo.find(("user_id", user))
        device = repo.find(("anonymous_id", f"{user}-laptop"))
        if held is None:
            continue
        seen[user] = 1 if device == held else 2
    return seen


def census(stack: dict[str, Any], people: Population) -> list[Count]:
    counts = [
        Count.of("raw cdp_raw.events", people.ids, rows(stack, "cdp_raw.events", people)),
        Count.of("processed tracks", people.ids, rows(stack, "cdp_processed.tracks", people)),
        Count.of("profiles (per user)", people.users, profiles(stack, people)),
    ]
    counts += [
        Count.of(
            f"destination {name}",
            people.ids,
            delivered(stack, name),
            dedup=transform_class(name).provider_dedup,
        )
        for name in TRACK_DESTINATIONS
    ]
    return counts


def complete(stack: dict[str, Any], people: Population) -> list[Count] | None:
    """The census once nothing is missing, else None (for ``eventually``)."""
    counts = census(stack, people)
    return counts if all(c.lost == 0 for c in counts) else None


def awaited(stack: dict[str, Any], people: Population, timeout: float, case: str) -> None:
    """Poll until no store misses any of ``people``; on timeout, print the last census."""
    try:
        eventually(lambda: complete(stack, people), timeout=timeout, every=3.0)
    except AssertionError:
        table(f"{case}: still missing after {timeout:.0f} s", census(stack, people), timeout)
        raise


SETTLE_SECONDS = 5  # after everything arrived: a late redelivery would show as a duplicate


def settled(
    stack: dict[str, Any], people: Population, case: str, started: float, timeout: float = 300
) -> list[Count]:
    """The end of a case: wait until no store misses any of ``people``, then a few seconds
    more, print the census as ``case`` and assert 0 lost and 0 duplicated in every store."""
    awaited(stack, people, timeout, case)
    took = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    counts = census(stack, people)
    table(case, counts, took)
    assert all(c.lost == 0 and c.duplicated == 0 for c in counts), counts
    return counts


def table(case: str, counts: list[Count], seconds: float) -> str:
    head = f"{'store':<24} {'sent':>5} {'once':>5} {'lost':>5} {'dup':>5} {'resent':>6}"
    lines = [f"\n== {case} ({seconds:.0f} s)", head, "-" * len(head)]
    lines += [
        f"{c.store:<24} {c.sent:>5} {c.once:>5} {c.lost:>5} {c.duplicated:>5} {c.resent:>6}"
        for c in counts
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
