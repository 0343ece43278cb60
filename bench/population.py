"""A generated population for ``make bench-burst``: who the people are, what they send, and
which identifiers each one's profile must hold at the end.

Identified users sign up on one of two or three devices (web, iOS, Android) and log in on the
others; before that each device browses anonymously (cold until the id is promoted). Anonymous
visitors only browse, so they must end with no profile at all. Noise rides along: blocked
values (``undefined``, an all-zero device id, ``test@test.com``) that must link nobody, events
with no id at all (failed events), and duplicates of earlier events in later batches.

The expected identifiers are computed with identity's own normalisation
(``identifiers_of``), so the oracle and the function agree on what an identifier is.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.identity.config import IdentityConfig
from shared.identity.identifiers import Identifier, identifiers_of

Event = dict[str, Any]
SOURCES = ("web", "ios", "android")
BATCH_SIZE = 100
BLOCKED_ANONYMOUS_ID = "undefined"
BLOCKED_DEVICE_ID = "00000000-0000-0000-0000-000000000000"
BLOCKED_EMAIL = "test@test.com"


@dataclass
class Person:
    key: str
    identified: bool
    events: list[tuple[str, Event]] = field(default_factory=list)  # (source, event)

    def identifiers(self, config: IdentityConfig) -> frozenset[Identifier]:
        return frozenset(i for _, e in self.events for i in identifiers_of(e, config))


@dataclass(frozen=True)
class Batch:
    source: str
    events: tuple[Event, ...]


@dataclass
class Population:
    people: list[Person]
    batches: list[Batch]

    @property
    def events(self) -> int:
        return sum(len(b.events) for b in self.batches)


class _Generator:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.run = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]  # ids fresh per seed
        self.start = start
        self.sent: list[tuple[datetime, str, Event]] = []

    def event(self, person: Person, source: str, at: datetime, **fields: Any) -> Event:
        event = {
            "messageId": f"{self.run}-{len(self.sent)}",
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            **fields,
        }
        person.events.append((source, event))
        self.sent.append((at, source, event))
        return event

    def later(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self.rng.randint(5, 300))

    def device(self, source: str) -> dict[str, Any]:
        if source == "web":
            return {}
        return {"context": {"device": {"id": str(uuid.UUID(int=self.rng.getrandbits(128)))}}}

    def browse(self, person: Person, source: str, anon: str, extra: dict[str, Any]) -> datetime:
        at = self.start + timedelta(seconds=self.rng.randint(0, 1800))
        kind = "page" if source == "web" else "screen"
        for n in range(self.rng.randint(1, 3)):
            at = self.later(at)
            self.event(person, source, at, type=kind, name=f"view-{n}", anonymousId=anon, **extra)
        return at

    def user(self, n: int) -> Person:
        person = Person(f"user-{n}", identified=True)
        user_id, email = f"{self.run}-u{n}", f"User.{n}@Example.org"  # email normalised
        sources = self.rng.sample(SOURCES, self.rng.choice((2, 3)))
        signed_up = False
        for source in sources:
            anon, extra = f"{self.run}-a{n}-{source}", self.device(source)
            at = self.browse(person, source, anon, extra)
            if not signed_up:
                at = self.later(at)
                self.event(person, source, at, type="track", event="sign_up", anonymousId=anon)
                signed_up = True
            at = self.later(at)
            traits = {"email": email, "plan": self.rng.choice(("free", "plus"))}
            ids = {"userId": user_id, "anonymousId": anon}
            self.event(person, source, at, type="identify", traits=traits, **ids, **extra)
            for _ in range(self.rng.randint(1, 4)):
                at = self.later(at)
                props = {"amount": self.rng.randint(1, 500)}
                name = self.rng.choice(("transfer_sent", "card_viewed", "balance_checked"))
                self.event(
                    person, source, at, type="track", event=name, properties=props, **ids, **extra
                )
        self.noise(person, source, user_id, at)
        return person

    def noise(self, person: Person, source: str, user_id: str, at: datetime) -> None:
        """Blocked values on a user's events: they must link this user to nobody."""
        at = self.later(at)
        pick = self.rng.randrange(3)
        if pick == 0:
            self.event(
                person, source, at, type="track", event="x", userId=user_id,
                anonymousId=BLOCKED_ANONYMOUS_ID,
            )  # fmt: skip
        elif pick == 1:
            context = {"device": {"id": BLOCKED_DEVICE_ID}}
            self.event(person, source, at, type="track", event="y", userId=user_id, context=context)
        else:
            traits = {"email": BLOCKED_EMAIL}
            self.event(person, source, at, type="identify", userId=user_id, traits=traits)

    def visitor(self, n: int) -> Person:
        person = Person(f"visitor-{n}", identified=False)
        source = self.rng.choice(SOURCES)
        self.browse(person, source, f"{self.run}-v{n}", self.device(source))
        return person


def generate(people: int = 300, identified_share: float = 0.7, seed: int = 11) -> Population:
    """``people`` people (``identified_share`` of them sign up), their events in time order
    cut into per-source batches of up to ``BATCH_SIZE``, plus idless events and duplicates."""
    gen = _Generator(seed, datetime.now(UTC) - timedelta(hours=1))
    identified = round(people * identified_share)
    crowd = [gen.user(n) for n in range(identified)]
    crowd += [gen.visitor(n) for n in range(people - identified)]
    timeline = sorted(gen.sent, key=lambda sent: sent[0])
    for at, source, _ in gen.rng.sample(timeline, 20):  # no id at all: a failed event
        timeline.append((at, source, {"type": "track", "event": "orphan", "messageId": str(at)}))
    for at, source, event in gen.rng.sample(timeline, 40):  # delivered twice, later
        timeline.append((at + timedelta(minutes=20), source, event))
    timeline.sort(key=lambda sent: sent[0])
    sizes = [gen.rng.randint(20, BATCH_SIZE) for _ in timeline]
    return Population(crowd, batches(timeline, sizes))


def batches(timeline: list[tuple[datetime, str, Event]], sizes: list[int]) -> list[Batch]:
    """Consecutive events of one source, cut where a batch reaches its size (the next of
    ``sizes``: SDKs flush on a timer as well as on a count), in the order the batches fill,
    as SDKs on many devices flush into one endpoint."""
    open_: dict[str, list[Event]] = {}
    done: list[Batch] = []
    wanted = iter(sizes)
    limit = {source: next(wanted) for source in SOURCES}
    for _, source, event in timeline:
        current = open_.setdefault(source, [])
        current.append(event)
        if len(current) >= limit[source]:
            done.append(Batch(source, tuple(open_.pop(source))))
            limit[source] = next(wanted, BATCH_SIZE)
    done += [Batch(source, tuple(events)) for source, events in open_.items() if events]
    return done
