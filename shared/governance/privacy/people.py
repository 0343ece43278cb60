"""Who a request is about: from the identifiers asked for to every identifier and profile of
the person, through identity.

Identity's documents give the person's root profile (forwarding pointers followed), whose
``identifiers`` are exactly those resolving to it, and whose evidence names every profile merged
into it. The warehouse's identity map adds identifiers that resolve to those profiles there
(one an event carried before the profile document was last written, say). Each newly found
identifier is looked up again, until nothing new turns up: a person found through their email
is the same person found through their userId.

A subject no profile holds still counts: its own identifier is deleted and suppressed.

With a hash key set, ingest's PII guard stores a card-like or national-id-like identifier as
``hmac:<hex>`` (``shared/governance/pii.py``), so a request for the value as the person knows
it also asks for the guard's form of it (``as_stored``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from shared.governance.pii import HASH_PREFIX, PiiGuard
from shared.governance.privacy.audit import Person
from shared.identity.config import IdentityConfig
from shared.identity.graph import MAX_HOPS, PROFILES, identifier_ref
from shared.identity.identifiers import Identifier, normalise
from shared.identity.records import holds, is_forwarded
from shared.ports.documents import DocumentStore
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW

MAX_ROUNDS = 8
# The subject types Segment names, and ours (``cdp privacy delete --user-id`` or TYPE:VALUE).
SEGMENT_TYPES = {"USER_ID": "user_id"}

CURRENT_MAP_SQL = """
SELECT DISTINCT identifier_type, identifier_value FROM `{identity_map}`
WHERE valid_to IS NULL AND profile_id IN UNNEST(@profile_ids)
"""

MapLookup = Callable[[Sequence[str]], list[Identifier]]


def subject(kind: str, value: str, config: IdentityConfig) -> Identifier:
    """The identifier an operator named, normalised as identity stores it (``A@B.com`` is
    ``a@b.com``); a value identity would refuse (blocked, unparsable) is refused here too."""
    kind = kind.strip().lower()
    found = normalise(kind, value, config)
    if found is None:
        raise ValueError(f"{kind}:{value!r} is not an identifier identity would keep")
    return found


def _probe(identifier: Identifier) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """An event carrying the identifier where ingest would see it, and where to read it back."""
    if identifier.type == "user_id":
        return {"userId": identifier.value}, lambda e: e.get("userId")
    if identifier.type == "anonymous_id":
        return {"anonymousId": identifier.value}, lambda e: e.get("anonymousId")
    external = {"id": identifier.value, "type": identifier.type}
    return {"context": {"externalIds": [external]}}, lambda e: e["context"]["externalIds"][0]["id"]


def as_stored(subjects: Iterable[Identifier], guard: PiiGuard) -> list[Identifier]:
    """The subjects, each followed by the guard's hashed form of it when the guard hashes it
    (a masked ``****1234`` names no one and is not asked for)."""
    found: dict[Identifier, None] = {}
    for identifier in subjects:
        found.setdefault(identifier)
        event, read = _probe(identifier)
        rewritten = read(guard.inspect(event).event)
        if isinstance(rewritten, str) and rewritten.startswith(HASH_PREFIX):
            found.setdefault(Identifier(identifier.type, rewritten))
    return list(found)


def identity_map(settings: Settings, sql: SqlRunner) -> MapLookup:
    """The warehouse's current assignments of these profiles (the curated identity map)."""
    query = CURRENT_MAP_SQL.format(identity_map=settings.table(CURATED, IDENTITY_MAP_VIEW))

    def lookup(profile_ids: Sequence[str]) -> list[Identifier]:
        if not profile_ids:
            return []
        rows = sql.query(query, {"profile_ids": list(profile_ids)})
        return [Identifier(str(r["identifier_type"]), str(r["identifier_value"])) for r in rows]

    return lookup


def _chain(store: DocumentStore, profile_id: str) -> tuple[list[str], dict[str, object] | None]:
    """The profile ids from ``profile_id`` to its root, and the root's document."""
    seen: list[str] = []
    current: str | None = profile_id
    for _ in range(MAX_HOPS):
        if current is None or current in seen:
            break
        doc = store.get(PROFILES, current)
        if doc is None:
            return seen, None
        seen.append(current)
        if not is_forwarded(doc):
            return seen, doc
        current = str(doc["merged_into"])
    return seen, None


def _absorbed(profile: dict[str, object]) -> set[str]:
    """Every profile merged into this one, from its evidence (merges carry the logs along)."""
    found: set[str] = set()
    for entry in profile.get("evidence") or []:  # type: ignore[attr-defined]
        found.update(str(p) for p in entry.get("absorbed") or [])
    return found


def resolve(
    store: DocumentStore, subjects: Iterable[Identifier], lookup: MapLookup | None = None
) -> Person:
    """Everything identity knows to be the person (or people) holding ``subjects``."""
    identifiers: set[Identifier] = set(subjects)
    profiles: set[str] = set()
    asked: set[Identifier] = set()
    mapped: set[str] = set()
    for _ in range(MAX_ROUNDS):
        fresh = sorted(identifiers - asked)
        if not fresh and profiles <= mapped:
            break
        asked.update(fresh)
        links = store.get_all([identifier_ref(i) for i in fresh])
        for identifier in fresh:
            link = links[identifier_ref(identifier)]
            if link is None or not link.get("profile_id"):
                continue
            chain, root = _chain(store, str(link["profile_id"]))
            profiles.update(chain)
            if root is not None:
                profiles.update(_absorbed(root))
                identifiers.update(
                    Identifier(t, v) for t, values in holds(root).items() for v in values
                )
        if lookup is not None and profiles - mapped:
            wanted = sorted(profiles - mapped)
            mapped.update(wanted)
            identifiers.update(lookup(wanted))
        elif not fresh:
            break
    by_type: dict[str, list[str]] = {}
    for identifier in sorted(identifiers):
        by_type.setdefault(identifier.type, []).append(identifier.value)
    return Person(by_type, tuple(sorted(profiles)))
