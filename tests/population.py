"""A generated population for identity tests, with the answer computed independently.

People have one to three devices; each device browses anonymously, then its person signs in by
``identify`` or by ``alias(previousId=anonymousId, userId)`` (as the seeds tell apps to do at
account creation), sometimes only by email. Anonymous visitors never sign in. Some devices are
shared by two users (a family tablet: both sign in on it). Noise: blocked values (``null``,
``0``, ``anonymous``, an all-zero device id, a test email), emails in mixed case with spaces,
messages delivered out of order and twice.

The oracle (``expected``) knows each event's identifiers as the generator wrote them, already
canonical, and never calls the code under test: clusters are the connected components of the
links, where a device-like identifier that two userIds each claimed (were seen in one event
with) links nothing at all.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

DEVICE_TYPES = ("anonymous_id", "device_id", "advertising_id", "ga_client_id")
BLOCKED_USER_IDS = ("null", "undefined", "0", "-1", "anonymous", "None")
BLOCKED_DEVICE = "00000000-0000-0000-0000-000000000000"


@dataclass
class Population:
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[frozenset[str]] = field(default_factory=list)  # per event: canonical keys
    people: int = 0

    def messages(self, seed: int, duplicate_share: float = 0.15) -> list[list[dict[str, Any]]]:
        """The events shuffled, in messages of 1 to 8, a share of them delivered twice (the
        second copy anywhere later)."""
        rng = random.Random(seed)
        order = list(self.events)
        rng.shuffle(order)
        messages, n = [], 0
        while n < len(order):
            size = rng.randint(1, 8)
            messages.append(order[n : n + size])
            n += size
        for message in list(messages):
            if rng.random() < duplicate_share:
                messages.insert(rng.randint(messages.index(message) + 1, len(messages)), message)
        return messages


def _case_noise(rng: random.Random, email: str) -> str:
    local, domain = email.split("@")
    return rng.choice([email, email.upper(), f" {local.title()}@{domain} ", f"{email}  "])


class _Builder:
    def __init__(self, seed: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.out = Population()
        self.ids = itertools.count(1)
        self.clock = itertools.count(0)

    def event(self, kind: str, keys: Iterable[str], **fields: Any) -> None:
        n = next(self.ids)
        second = next(self.clock)
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"{self.tag}-m{n}",
            "timestamp": f"2026-02-{1 + second // 86400 % 27:02d}T{second // 3600 % 24:02d}:"
            f"{second // 60 % 60:02d}:{second % 60:02d}.000Z",
            "sourceId": "web",
            **fields,
        }
        if kind == "track":
            event.setdefault("event", "button_clicked")
        self.out.events.append(event)
        self.out.links.append(frozenset(keys))

    def device(self, person: int, d: int) -> dict[str, str]:
        name = f"{self.tag}-p{person}-d{d}"
        found = {"anonymous_id": f"{name}-anon"}
        if self.rng.random() < 0.6:  # a mobile app: a device id, often an advertising id
            found["device_id"] = f"{name}-dev"
            if self.rng.random() < 0.5:
                found["advertising_id"] = f"{name}-idfa"
        return found

    @staticmethod
    def fields(device: dict[str, str]) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if "device_id" in device:
            context["device"] = {"id": device["device_id"]}
            if "advertising_id" in device:
                context["device"]["advertisingId"] = device["advertising_id"]
        return {"anonymousId": device["anonymous_id"], "context": context}

    @staticmethod
    def keys(device: dict[str, str]) -> list[str]:
        return [f"{kind}:{value}" for kind, value in device.items()]

    def browse(self, device: dict[str, str], times: int) -> None:
        for _ in range(times):
            kind = self.rng.choice(["page", "screen", "track"])
            self.event(kind, self.keys(device), **self.fields(device))

    def noise(self, device: dict[str, str]) -> None:
        """An event whose extra identifiers are all blocked: it links only the device."""
        fields = self.fields(device)
        fields["userId"] = self.rng.choice(BLOCKED_USER_IDS)
        fields["context"] = {
            **fields["context"],
            "traits": {"email": "test@test.com"},
            "externalIds": [{"id": BLOCKED_DEVICE, "type": "device_id"}],
        }
        self.event("track", self.keys(device), **fields)

    def sign_in(self, user: str, email: str, device: dict[str, str]) -> None:
        keys = [f"user_id:{user}", *self.keys(device)]
        how = self.rng.random()
        if how < 0.4:  # alias at account creation, the call the seeds recommend
            fields: dict[str, Any] = {"userId": user, "previousId": device["anonymous_id"]}
            if self.rng.random() < 0.5:  # analytics.js sends the anonymousId as well
                fields["anonymousId"] = device["anonymous_id"]
            self.event(
                "alias", [f"user_id:{user}", f"anonymous_id:{device['anonymous_id']}"], **fields
            )
            rest = {k: v for k, v in device.items() if k != "anonymous_id"}
            if rest:  # the device's own ids join at the next identified event
                self.event("track", keys, userId=user, **self.fields(device))
        elif how < 0.55:  # only an email on this device, then the user id elsewhere
            traits = {"email": _case_noise(self.rng, email)}
            self.event(
                "identify",
                [f"email:{email}", *self.keys(device)],
                traits=traits,
                **self.fields(device),
            )
        else:
            traits = {"email": _case_noise(self.rng, email)}
            self.event(
                "identify",
                [*keys, f"email:{email}"],
                userId=user,
                traits=traits,
                **self.fields(device),
            )

    def person(self, p: int) -> tuple[str, list[dict[str, str]]]:
        user, email = f"{self.tag}-u{p}", f"{self.tag}-u{p}@example.com"
        devices = [self.device(p, d) for d in range(self.rng.randint(1, 3))]
        self.event(
            "identify", [f"user_id:{user}", f"email:{email}"], userId=user, traits={"email": email}
        )
        for device in devices:
            self.browse(device, self.rng.randint(1, 3))
            self.sign_in(user, email, device)
            if self.rng.random() < 0.5:
                self.event(
                    "track",
                    [f"user_id:{user}", *self.keys(device)],
                    userId=user,
                    **self.fields(device),
                )
            if self.rng.random() < 0.2:
                self.noise(device)
        return user, devices

    def shared(self, k: int, users: list[str]) -> None:
        """A device both users sign in on, and browse on anonymously."""
        device = {
            "anonymous_id": f"{self.tag}-shared{k}-anon",
            "device_id": f"{self.tag}-shared{k}-dev",
        }
        self.browse(device, 2)
        for user in users:
            self.event(
                "identify",
                [f"user_id:{user}", *self.keys(device)],
                userId=user,
                **self.fields(device),
            )
            self.browse(device, 1)


def population(people: int, seed: int = 1, tag: str = "pop") -> Population:
    """``people`` people: about 70 % sign in, 30 % stay anonymous; every tenth signed-in pair
    shares a device."""
    builder = _Builder(seed, tag)
    users = []
    for p in range(people):
        if builder.rng.random() < 0.7:
            users.append(builder.person(p)[0])
        else:
            device = builder.device(p, 0)
            builder.browse(device, builder.rng.randint(1, 4))
            if builder.rng.random() < 0.2:
                builder.noise(device)
    for k, pair in enumerate(zip(users[::20], users[1::20], strict=False)):
        builder.shared(k, list(pair))
    builder.out.people = people
    return builder.out


def expected(links: Iterable[frozenset[str]]) -> set[frozenset[str]]:
    """The oracle: connected components of the links, shared device-like identifiers alone."""
    links = list(links)
    claims: dict[str, set[str]] = {}
    for keys in links:
        users = {k for k in keys if k.startswith("user_id:")}
        for key in keys:
            if key.split(":", 1)[0] in DEVICE_TYPES:
                claims.setdefault(key, set()).update(users)
    shared = {k for k, users in claims.items() if len(users) > 1}
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for keys in links:
        for key in keys:
            root(key)
        linked = sorted(keys - shared)
        for other in linked[1:]:
            parent[root(other)] = root(linked[0])
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(root(key), set()).add(key)
    found = {frozenset(g) for g in groups.values()}
    assert all(sum(k.startswith("user_id:") for k in g) <= 1 for g in found), "bad generator"
    return found


def pairs(clusters: Iterable[frozenset[str]]) -> Iterator[frozenset[str]]:
    for cluster in clusters:
        for a, b in itertools.combinations(sorted(cluster), 2):
            yield frozenset((a, b))


def precision_recall(found: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float]:
    """Pairwise: of the identifier pairs put together, how many belong together, and of those
    that belong together, how many were put together."""
    got, want = set(pairs(found)), set(pairs(truth))
    both = len(got & want)
    return (both / len(got) if got else 1.0), (both / len(want) if want else 1.0)
