"""The person in Firestore: what a delete removes, collection by collection.

    identifiers/{type}:{value}      each of the person's identifiers
    profiles/{id}                   the root profile (evidence, conflicts and first touch are on
                                    it) and every profile merged into it (forwarding pointers)
    tier_promotions/{anonymous id}  promotion records
    attribution/{anonymous id}      first-touch attribution records
    backfills/{anonymous id}        back-fill records (they name the userId)
    sql_sources/{source}:{identity} the SQL sources' ledger (the row last sent for the person)

Other people's documents may name the person too: a shared device's identifier document lists
the userIds that claimed it, another profile's conflicts name the identifier it refused. The
documents the person's profile points at (its ``claimed`` keys) are scrubbed (``scrub``) of
every value of theirs; a bounded scan of the other profiles is scrubbed only of what names the
person unambiguously (``keyed_names``: ``user_id:42``, their profile ids), never of a string
that merely equals one of their values (``42`` may be someone's size). The delivery ledger
(``deliveries/{destination}:{message}``) holds Pub/Sub message ids and event ids only, no
identifier, so nothing there is the person's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from shared.destinations.backfill import BACKFILLED
from shared.governance.privacy.audit import Person
from shared.governance.privacy.requests import DONE, Attempt
from shared.identity.graph import IDENTIFIERS, PROFILES, identifier_ref
from shared.identity.identifiers import Identifier
from shared.ports.documents import DocumentStore, Ref, Transaction, document_id
from shared.tiering.attribution import ATTRIBUTION
from shared.tiering.state import PROMOTIONS, doc_id

SQL_SOURCES = "sql_sources"  # shared.audiences.sql_source.LEDGER (a test keeps them equal)
COLLECTIONS = (IDENTIFIERS, PROFILES, PROMOTIONS, ATTRIBUTION, BACKFILLED, SQL_SOURCES)
BY_ANONYMOUS_ID = (PROMOTIONS, ATTRIBUTION, BACKFILLED)
CHUNK = 200  # documents per transaction (Firestore allows 500 writes)
SCAN_LIMIT = 20_000  # profiles scanned for mentions of the person
GONE = "[deleted]"
MIN_INNER = 8  # shorter values are masked only where they are a whole string


def identifiers_of(person: Person) -> list[Identifier]:
    return [Identifier(t, v) for t, values in person.identifiers.items() for v in values]


def refs_of(person: Person, collection: str) -> list[Ref]:
    """The documents of ``collection`` that are the person's, by key."""
    if collection == IDENTIFIERS:
        return [identifier_ref(i) for i in identifiers_of(person)]
    if collection == PROFILES:
        return [(PROFILES, p) for p in person.profile_ids]
    if collection in BY_ANONYMOUS_ID:
        return [(collection, doc_id(a)) for a in person.values("anonymous_id")]
    raise ValueError(f"no person documents known in {collection!r}")


def ledger_refs(store: DocumentStore, person: Person, limit: int = SCAN_LIMIT) -> list[Ref]:
    """The SQL sources' ledger documents of the person: ids are ``<source>:<identity>``, so the
    source keys are read from the ids (a bounded scan) and each is matched exactly."""
    values = {v for vs in person.identifiers.values() for v in vs}
    found: list[Ref] = []
    for key in sorted({d.split("%3A", 1)[0] for d, _ in store.list(SQL_SOURCES, limit=limit)}):
        found.extend((SQL_SOURCES, document_id(f"{key}:{v}")) for v in sorted(values))
    return found


def needles(person: Person) -> set[str]:
    """What names the person inside a document: identifier values, their keys, profile ids."""
    found = {v for values in person.identifiers.values() for v in values}
    return found | set(person.keys()) | set(person.profile_ids)


def keyed_names(person: Person) -> set[str]:
    """What names the person in anyone's document: their identifier keys and profile ids."""
    return set(person.keys()) | set(person.profile_ids)


def scrub(value: Any, names: set[str]) -> Any:
    """``value`` with every mention of ``names`` gone: list items naming them dropped, other
    strings containing them masked."""
    if isinstance(value, dict):
        return {k: scrub(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, names) for v in value if not (isinstance(v, str) and v in names)]
    if isinstance(value, str):
        if value in names:
            return GONE
        for name in names:  # inside free text only what cannot be a piece of another word
            if len(name) >= MIN_INNER and name in value:
                value = value.replace(name, GONE)
        return value
    return value


def mentions(doc: Any, names: set[str]) -> bool:
    return bool(scrub(doc, names) != doc)


def delete_refs(store: DocumentStore, refs: list[Ref]) -> int:
    """Delete those of ``refs`` that exist; returns how many did."""
    deleted = 0
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]

        def remove(tx: Transaction, chunk: list[Ref] = chunk) -> int:
            found = tx.get_all(chunk)
            present = [ref for ref in chunk if found[ref] is not None]
            for ref in present:
                tx.delete(*ref)
            return len(present)

        deleted += store.run_transaction(remove)
    return deleted


def scrub_refs(store: DocumentStore, refs: Iterable[Ref], names: set[str]) -> int:
    """Rewrite the documents of ``refs`` that mention the person without the mentions."""
    changed = 0
    for ref in dict.fromkeys(refs):

        def rewrite(tx: Transaction, ref: Ref = ref) -> int:
            doc = tx.get(*ref)
            if doc is None or not mentions(doc, names):
                return 0
            tx.set(*ref, scrub(doc, names))
            return 1

        changed += store.run_transaction(rewrite)
    return changed


def _claimed_refs(store: DocumentStore, person: Person) -> list[Ref]:
    """Identifier documents the person's profiles claimed but do not hold (shared devices)."""
    docs = store.get_all([(PROFILES, p) for p in person.profile_ids])
    held = set(person.keys())
    claimed = {k for d in docs.values() if d for k in d.get("claimed") or [] if k not in held}
    return [identifier_ref(Identifier.parse(k)) for k in sorted(claimed)]


def _mentioning_profiles(store: DocumentStore, person: Person, limit: int) -> list[Ref]:
    names, own = keyed_names(person), set(person.profile_ids)
    return [
        (PROFILES, pid)
        for pid, doc in store.list(PROFILES, limit=limit)
        if pid not in own and mentions(doc, names)
    ]


def step(
    store: DocumentStore, person: Person, scan_limit: int = SCAN_LIMIT
) -> Callable[[str], Attempt]:
    """The attempt for a ``firestore:<collection>`` step."""

    def run(collection: str) -> Attempt:
        if collection == PROFILES:
            scrubbed = scrub_refs(store, _claimed_refs(store, person), needles(person))
            mentioning = _mentioning_profiles(store, person, scan_limit)
            scrubbed += scrub_refs(store, mentioning, keyed_names(person))
            deleted = delete_refs(store, refs_of(person, PROFILES))
            return Attempt(DONE, f"deleted {deleted} profiles; scrubbed {scrubbed} mentions")
        refs = (
            ledger_refs(store, person, scan_limit)
            if collection == SQL_SOURCES
            else refs_of(person, collection)
        )
        deleted = delete_refs(store, refs)
        return Attempt(DONE, f"deleted {deleted} documents")

    return run
