"""The audiences' semantics recomputed in plain Python, for tests to compare the job against.

Nothing here reads SQL or the compiler: the shipped stages and computed traits are written out
by hand from the issue and the design (windows, the sessions rule, who a person is), over the
events as the warehouse stores them (the payload of ``cdp_raw.events`` and
``cdp_raw.cold_archive``: type, event, userId, anonymousId, previousId, timestamp, sourceId,
properties), with each source's kind.

- A person is a set of identifiers joined by the events' own links: an alias joins previousId
  and userId, any call carrying both a userId and an anonymousId joins them (union-find). The
  job asks the identity graph instead; on traffic where no anonymous id meets two userIds (the
  demo's) both give the same people.
- An event belongs to the person of its userId, else of its anonymousId. Duplicates (one
  messageId) count once; events of the platform's own sources (``audiences``, the job's; and
  ``sql-<key>``, the SQL sources' identifies) never count; events after ``as_of`` never count.
- "Within N days" is ``as_of - N days < timestamp <= as_of``; "first before N days" is a first
  occurrence strictly earlier than ``as_of - N days``.
- Sessions: a person's events, except those of server sources, in time order; a gap of more
  than 30 minutes starts a new one; a session belongs to the span holding its first event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

AUDIENCES_SOURCE = "audiences"
SQL_SOURCE_PREFIX = "sql-"
GAP = timedelta(minutes=30)
DAY = timedelta(days=1)
STAGES = ("activated_incomplete", "funded_dormant", "active_core", "direct_deposit", "churn_risk")
HIGH_VALUE = 500.0  # churn_risk's high_value_threshold, on transaction_volume_30d


@dataclass(frozen=True)
class Event:
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    timestamp: datetime
    source_id: str
    source_kind: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Person:
    user_ids: frozenset[str]
    anonymous_ids: frozenset[str]


def when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _id(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def events_of(payloads: Iterable[Mapping[str, Any]], kinds: Mapping[str, str]) -> list[Event]:
    """Stored payloads as events: one per messageId (the first), none of our own sources."""
    seen: dict[str, Event] = {}
    for p in payloads:
        message_id, source = str(p["messageId"]), str(p.get("sourceId") or "")
        ours = source == AUDIENCES_SOURCE or source.startswith(SQL_SOURCE_PREFIX)
        if message_id in seen or ours:
            continue
        seen[message_id] = Event(
            message_id=message_id,
            type=str(p["type"]),
            event=p.get("event") if isinstance(p.get("event"), str) else None,
            user_id=_id(p.get("userId")),
            anonymous_id=_id(p.get("anonymousId")),
            previous_id=_id(p.get("previousId")),
            timestamp=when(p["timestamp"]),
            source_id=source,
            source_kind=kinds.get(source, ""),
            properties=p.get("properties") or {},
        )
    return list(seen.values())


class _Links:
    """Union-find over identifiers (``user_id:x``, ``anonymous_id:y``)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _own_key(e: Event) -> str | None:
    if e.user_id:
        return f"user_id:{e.user_id}"
    return f"anonymous_id:{e.anonymous_id}" if e.anonymous_id else None


def histories(events: Iterable[Event]) -> dict[Person, list[Event]]:
    """Each person's events, in time order."""
    events = list(events)
    links = _Links()
    for e in events:
        if e.user_id:
            links.root(f"user_id:{e.user_id}")
        if e.anonymous_id:
            links.root(f"anonymous_id:{e.anonymous_id}")
        if e.user_id and e.anonymous_id:
            links.join(f"user_id:{e.user_id}", f"anonymous_id:{e.anonymous_id}")
        if e.type == "alias" and e.user_id and e.previous_id:  # previousId: an anonymous id
            links.join(f"user_id:{e.user_id}", f"anonymous_id:{e.previous_id}")
    members: dict[str, list[str]] = {}
    for key in list(links.parent):
        members.setdefault(links.root(key), []).append(key)
    people = {
        root: Person(
            frozenset(k.split(":", 1)[1] for k in keys if k.startswith("user_id:")),
            frozenset(k.split(":", 1)[1] for k in keys if k.startswith("anonymous_id:")),
        )
        for root, keys in members.items()
    }
    found: dict[Person, list[Event]] = {}
    for e in events:
        own = _own_key(e)
        if own is not None:
            found.setdefault(people[links.root(own)], []).append(e)
    return {p: sorted(es, key=lambda e: (e.timestamp, e.message_id)) for p, es in found.items()}


# --- conditions over one person's history (events after as_of already dropped) -------------


def named(history: list[Event], name: str, as_of: datetime, days: int | None = None) -> list[Event]:
    """Tracks of ``name`` at or before ``as_of``, within ``days`` when given."""
    since = as_of - days * DAY if days is not None else None
    return [
        e
        for e in history
        if e.type == "track"
        and e.event == name
        and e.timestamp <= as_of
        and (since is None or e.timestamp > since)
    ]


def first_before(history: list[Event], name: str, as_of: datetime, days: int) -> bool:
    found = named(history, name, as_of)
    return bool(found) and min(e.timestamp for e in found) < as_of - days * DAY


def session_starts(history: list[Event], as_of: datetime) -> list[datetime]:
    times = sorted(
        e.timestamp for e in history if e.timestamp <= as_of and e.source_kind != "server"
    )
    return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > GAP]


def sessions_fell(
    history: list[Event],
    as_of: datetime,
    recent: int = 7,
    prior: int = 30,
    min_prior: int = 3,
    below_ratio: float = 0.5,
) -> bool:
    """Sessions per day in the last ``recent`` days below ``below_ratio`` times those per day in
    the ``prior`` days before them, which held at least ``min_prior`` sessions."""
    starts = session_starts(history, as_of)
    edge, start = as_of - recent * DAY, as_of - (recent + prior) * DAY
    last = sum(1 for t in starts if edge < t <= as_of)
    before = sum(1 for t in starts if start < t <= edge)
    return before >= min_prior and last / recent < below_ratio * before / prior


# --- computed traits -----------------------------------------------------------------------


def _values(events: list[Event], prop: str) -> list[Any]:
    return [e.properties[prop] for e in events if e.properties.get(prop) is not None]


def _most_frequent(values: list[Any]) -> str | None:
    """The most frequent value as text; a tie goes to the smallest text."""
    counts = Counter(str(v) for v in values)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None


Aggregate = Callable[[list[Event]], Any]


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


TRAITS: dict[str, tuple[str, int | None, Aggregate]] = {
    # key: (event, window in days or None for all time, aggregate over the matching events)
    "transaction_volume_30d": (
        "transaction_completed",
        30,
        lambda es: sum(float(v) for v in _values(es, "amount")) if es else None,
    ),
    "transactions_30d": ("transaction_completed", 30, lambda es: len(es) if es else None),
    "last_transaction_at": (
        "transaction_completed",
        None,
        lambda es: max(e.timestamp for e in es) if es else None,
    ),
    "favourite_transaction_type": (
        "transaction_completed",
        None,
        lambda es: _most_frequent(_values(es, "type")),
    ),
    "transaction_methods": (
        "transaction_completed",
        None,
        lambda es: sorted({str(v) for v in _values(es, "method")}) or None,
    ),
    "account_created_at": (
        "account_created",
        None,
        lambda es: min(e.timestamp for e in es) if es else None,
    ),
}


def traits(history: list[Event], as_of: datetime) -> dict[str, Any]:
    return {
        key: aggregate(named(history, event, as_of, days))
        for key, (event, days, aggregate) in TRAITS.items()
    }


# --- the five stages -------------------------------------------------------------------------


def stages(history: list[Event], as_of: datetime) -> set[str]:
    """The shipped lifecycle audiences the person is in (independent: several at once)."""
    rules = {
        "activated_incomplete": first_before(history, "account_created", as_of, 7)
        and not named(history, "bank_account_linked", as_of),
        "funded_dormant": bool(named(history, "bank_account_linked", as_of))
        and not named(history, "transaction_initiated", as_of, 30),
        "active_core": len(named(history, "transaction_completed", as_of, 30)) >= 3,
        "direct_deposit": bool(named(history, "direct_deposit_enabled", as_of)),
        "churn_risk": sessions_fell(history, as_of)
        and not named(history, "transaction_completed", as_of, 21),
    }
    return {key for key, member in rules.items() if member}


def high_value(history: list[Event], as_of: datetime) -> bool:
    volume = traits(history, as_of)["transaction_volume_30d"]
    return volume is not None and volume >= HIGH_VALUE


def memberships(events: Iterable[Event], as_of: datetime) -> dict[str, set[Person]]:
    found: dict[str, set[Person]] = {key: set() for key in STAGES}
    for person, history in histories(events).items():
        for key in stages(history, as_of):
            found[key].add(person)
    return found
