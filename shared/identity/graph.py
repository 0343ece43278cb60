"""The identity graph's union-find in the document store: where identifiers point, and how to
follow forwarding pointers to the root profile.

    identifiers/{type}:{value} → {profile_id, type, value, linked_at, message_id}: the profile
                                 the identifier joined (it may since have been absorbed)
    profiles/{profile_id}      → a root profile, or a forwarding pointer (see records.py)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.identity.identifiers import Identifier
from shared.identity.records import Doc, is_forwarded
from shared.ports.documents import DocumentStore, Ref, Transaction

IDENTIFIERS = "identifiers"
PROFILES = "profiles"
MAX_HOPS = 32  # forwarding chains are compacted long before this


def identifier_ref(identifier: Identifier) -> Ref:
    return (IDENTIFIERS, identifier.doc_id)


class IdentifierCache:
    """Identifier key → profile id, per instance, least recently used dropped first. Only a
    hint: every use is checked against the profile document inside the transaction."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        found = self._ids.get(key)
        if found is not None:
            self._ids.move_to_end(key)
        return found

    def put(self, keys: Sequence[str], profile_id: str) -> None:
        for key in keys:
            self._ids[key] = profile_id
            self._ids.move_to_end(key)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


class Resolver:
    """Follows identifier documents and forwarding pointers inside one transaction."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.docs: dict[str, Doc | None] = {}

    def load(self, profile_ids: set[str]) -> None:
        for _ in range(MAX_HOPS):
            missing = sorted(p for p in profile_ids if p not in self.docs)
            if not missing:
                return
            got = self.tx.get_all([(PROFILES, p) for p in missing])
            profile_ids = set()
            for pid in missing:
                doc = self.docs[pid] = got[(PROFILES, pid)]
                if doc is not None and doc.get("merged_into"):
                    profile_ids.add(str(doc["merged_into"]))

    def root(self, profile_id: str | None) -> str | None:
        hops = 0
        while profile_id is not None and hops < MAX_HOPS:
            doc = self.docs.get(profile_id)
            if doc is None:
                return None  # a dangling pointer (deleted profile): the identifier is free
            if not is_forwarded(doc):
                return profile_id
            profile_id, hops = str(doc["merged_into"]), hops + 1
        return None


def find(store: DocumentStore, identifier: Identifier) -> Doc | None:
    """The root profile holding ``identifier``, outside any transaction, or None."""
    link = store.get(*identifier_ref(identifier))
    profile_id = link["profile_id"] if link else None
    for _ in range(MAX_HOPS):
        doc = store.get(PROFILES, profile_id) if profile_id else None
        if doc is None or not is_forwarded(doc):
            return doc
        profile_id = doc["merged_into"]
    return None


def compact(
    tx: Transaction,
    links: Mapping[Ref, Doc | None],
    pointers: Mapping[Identifier, Any],
    owners: Mapping[Identifier, str | None],
    final: Callable[[str | None], str | None],
    resolver: Resolver,
) -> None:
    """Point what this event passed through straight at its root, as it is once this
    transaction commits (bounded by the event's identifiers and the hops read, never by
    the size of a profile)."""
    for identifier, owner in owners.items():
        ref, root = identifier_ref(identifier), final(owner)
        link = links[ref]
        if link is not None and root is not None and pointers[identifier] != root:
            tx.set(*ref, {**link, "profile_id": root})
    for pid, doc in resolver.docs.items():
        if doc is not None and is_forwarded(doc):
            root = final(resolver.root(pid))
            if root is not None and doc["merged_into"] != root:
                tx.set(PROFILES, pid, {**doc, "merged_into": root})
