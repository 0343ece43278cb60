"""What a run writes to the profiles (Firestore): ``computed_traits`` and ``audiences``, only for
the profiles whose values changed, at the root profile, in transactions that touch nothing else.

Knowing what changed without reading every profile: the last values written to each profile are
kept as a fingerprint (16 hex digits of a SHA-256 of the two fields) in the run's own state,
``audience_fingerprints/<shard>`` (64 documents, ``{"fingerprints": {profile_id: fp}}``). A run
reads those 64 documents, compares, and opens only the profiles whose fingerprint moved; a run
with nothing changed reads 64 documents and writes none. BigQuery was the other place for them,
but a run would then stream rows and read them back at the next run, and a streaming insert is
not reliably visible to a query that soon. The shards hold ``CAPACITY`` (a million) profiles:
about 15,600 entries a shard, some 55 bytes each, stays under Firestore's 1 MiB and 20,000 fields
per document. Only shards whose entries changed are written back, in commits of at most
``COMMIT_BYTES`` (all 64 full shards are far beyond the 10 MiB a request may carry). The
fingerprints are a shortcut, not the truth: a changed profile is still compared with its
document, and one already holding the values is not written.
Fingerprints are written after the profiles, so a run stopped between the two rewrites nothing
but its comparison on the next run.

Each transaction reads a batch of profiles (following forwarding pointers to their roots: the
warehouse may not have seen a merge yet) and replaces only the two fields. A profile the run no
longer returns (no events left in any window) has both fields emptied; one that was merged into
another is left to its root; one with no document (deleted) is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.audiences.memberships import Person
from shared.identity.graph import PROFILES, Resolver
from shared.identity.records import Doc, is_forwarded
from shared.ingest.events import iso
from shared.ports.documents import DocumentStore, Ref, Transaction

FINGERPRINTS = "audience_fingerprints"
SHARDS = 64
BATCH = 200  # profiles per transaction (Firestore: 500 writes; pointers may add reads)
CAPACITY = 1_000_000  # profiles the shards hold within Firestore's per-document limits
DOC_BYTES = 1_048_576  # Firestore: the storage size of one document
DOC_FIELDS = 20_000  # Firestore: fields of one document (each map entry is one)
COMMIT_BYTES = 8 * 1_048_576  # per commit, below the 10 MiB of one Firestore request
ENTRY_BYTES = 12  # a map entry's framing in a request, beyond its key and value
WRITE_BYTES = 512  # one write's framing in a request (document name, mask, precondition)
TRAITS = "computed_traits"
AUDIENCES = "audiences"
Fields = dict[str, Any]  # {computed_traits: {...}, audiences: {key: {"entered_at": iso}}}
EMPTY: Fields = {TRAITS: {}, AUDIENCES: {}}


def fields_of(person: Person | None, held: Mapping[str, datetime]) -> Fields:
    """The two fields of a profile: its traits, and the audiences it is in since when."""
    return {
        TRAITS: dict(sorted((person.traits if person else {}).items())),
        AUDIENCES: {k: {"entered_at": iso(at)} for k, at in sorted(held.items())},
    }


def fingerprint(fields: Fields) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shard_of(profile_id: str) -> str:
    return f"{int(hashlib.sha256(profile_id.encode()).hexdigest()[:8], 16) % SHARDS:02d}"


def shard_bytes(shard: str, entries: Mapping[str, str]) -> int:
    """Firestore's storage size of a shard document: its name, the ``fingerprints`` field, each
    entry (a string is its UTF-8 bytes plus one) and 32 bytes per document."""
    name = len(FINGERPRINTS.encode()) + 1 + len(shard.encode()) + 1 + 16
    body = sum(len(k.encode()) + 1 + len(v.encode()) + 1 for k, v in entries.items())
    return name + len("fingerprints") + 1 + body + 32


def request_bytes(entries: Mapping[str, str]) -> int:
    """An upper estimate of one shard's write in a commit request."""
    return WRITE_BYTES + sum(len(k.encode()) + len(v.encode()) + ENTRY_BYTES
                             for k, v in entries.items())  # fmt: skip


def commits(
    weights: Mapping[str, int], limit: int = COMMIT_BYTES, writes: int = 500
) -> list[list[str]]:
    """The shards to write (shard → its ``request_bytes``), grouped in order into commits of at
    most ``limit`` bytes and ``writes`` writes (one bigger than ``limit`` goes alone)."""
    groups: list[list[str]] = []
    size = 0
    for shard, weight in weights.items():
        if not groups or size + weight > limit or len(groups[-1]) >= writes:
            groups.append([])
            size = 0
        groups[-1].append(shard)
        size += weight
    return groups


def combined(pids: Sequence[str], desired: Mapping[str, Fields], root: str) -> Fields:
    """The fields of one root that several warehouse profiles resolve to (a merge the warehouse
    has not seen): the root's own traits if it has a row, each audience from its earliest entry."""
    own = desired[root] if root in pids else desired[min(pids)]
    audiences: dict[str, dict[str, str]] = {}
    for pid in sorted(pids):
        for key, held in desired[pid][AUDIENCES].items():
            if key not in audiences or held["entered_at"] < audiences[key]["entered_at"]:
                audiences[key] = held
    return {TRAITS: own[TRAITS], AUDIENCES: dict(sorted(audiences.items()))}


@dataclass
class Counted(Transaction):
    """A transaction that counts the documents it reads and writes (the report shows them)."""

    tx: Transaction
    reads: int = 0
    writes: int = 0

    def get_all(self, refs: Sequence[Ref]) -> dict[Ref, Doc | None]:
        self.reads += len(refs)
        return self.tx.get_all(refs)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self.writes += 1
        self.tx.set(collection, doc_id, data)

    def delete(self, collection: str, doc_id: str) -> None:
        self.writes += 1
        self.tx.delete(collection, doc_id)


@dataclass
class ProfileSync:
    documents: DocumentStore
    commit_bytes: int = COMMIT_BYTES
    reads: int = 0
    writes: int = 0
    profiles_written: int = 0
    _shards: dict[str, dict[str, str]] = field(default_factory=dict)

    def fingerprints(self) -> dict[str, str]:
        """Profile id → the fingerprint of what was last written to it."""
        refs = [(FINGERPRINTS, f"{n:02d}") for n in range(SHARDS)]
        found = self.documents.get_all(refs)
        self.reads += len(refs)
        self._shards = {ref[1]: dict((doc or {}).get("fingerprints") or {}) for ref, doc in
                        found.items()}  # fmt: skip
        return {pid: fp for shard in self._shards.values() for pid, fp in shard.items()}

    def sync(self, desired: Mapping[str, Fields], gone: Sequence[str] = ()) -> int:
        """Write ``desired`` (profile id → fields) where it differs from the last fingerprint;
        empty the fields of the profiles absent from it: those written before (a fingerprint)
        and the ``gone`` ones (e.g. members the run no longer returns). Returns the number of
        profile documents written."""
        known = self.fingerprints()
        gone = sorted({*gone, *known} - set(desired))
        wanted = {**dict.fromkeys(gone, EMPTY), **desired}
        changed = sorted(pid for pid, f in wanted.items() if known.get(pid) != fingerprint(f))
        while changed:  # a transaction writes whole documents: at most commit_bytes of them
            batch, changed = changed[:BATCH], changed[BATCH:]
            written, left = self._write(batch, wanted, set(gone))
            self.profiles_written += written
            changed = left + changed
        self._save({pid: fingerprint(f) for pid, f in desired.items()})
        return self.profiles_written

    def _write(
        self, batch: list[str], wanted: Mapping[str, Fields], gone: set[str]
    ) -> tuple[int, list[str]]:
        """Write what ``batch`` needs in one transaction; the profiles that did not fit in its
        ``commit_bytes`` (profiles are whole documents, up to 1 MiB each) are returned."""

        def write(tx: Transaction) -> tuple[int, int, int, list[str]]:
            counted = Counted(tx)
            resolver = Resolver(counted)
            resolver.load(set(batch))
            roots: dict[str, list[str]] = {}
            for pid in batch:
                root = resolver.root(pid)
                if root is None or (root != pid and pid in gone):
                    continue  # no profile any more, or merged: its root has its own row
                roots.setdefault(root, []).append(pid)
            written, size, left = 0, 0, []
            for root, pids in sorted(roots.items()):
                doc = resolver.docs[root]
                fields = combined(pids, wanted, root)
                if doc is None or all(doc.get(k) == v for k, v in fields.items()):
                    continue
                new = {**doc, **fields}
                weight = len(json.dumps(new, default=str).encode()) + WRITE_BYTES
                if written and size + weight > self.commit_bytes:
                    left.extend(pids)  # the next transaction takes it
                    continue
                counted.set(PROFILES, root, new)
                written, size = written + 1, size + weight
            return written, counted.reads, counted.writes, left

        written, reads, writes, left = self.documents.run_transaction(write)
        self.reads += reads
        self.writes += writes
        return written, left

    def _save(self, now: Mapping[str, str]) -> None:
        """Write back the shards whose entries changed (profiles gone drop out)."""
        shards: dict[str, dict[str, str]] = {f"{n:02d}": {} for n in range(SHARDS)}
        for pid, fp in now.items():
            shards[shard_of(pid)][pid] = fp
        moved = {k: v for k, v in sorted(shards.items()) if v != self._shards.get(k, {})}
        weights = {shard: request_bytes(entries) for shard, entries in moved.items()}
        for group in commits(weights, self.commit_bytes):  # the shards are independent

            def write(tx: Transaction, group: list[str] = group) -> None:  # writes only
                for shard in group:
                    entries = dict(sorted(moved[shard].items()))
                    tx.set(FINGERPRINTS, shard, {"fingerprints": entries})

            self.documents.run_transaction(write)
            self.writes += len(group)
        self._shards = shards


def merged_roots(
    documents: DocumentStore, profile_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, str], int]:
    """For profiles a run no longer returns: profile id → the root it was merged into, profile
    id → one of its anonymous ids (to address its exit), and the documents read."""
    merged: dict[str, str] = {}
    anonymous: dict[str, str] = {}
    reads = 0
    for start in range(0, len(profile_ids), BATCH):
        batch = list(profile_ids[start : start + BATCH])
        docs: dict[str, Doc | None] = {}
        todo = set(batch)
        for _ in range(32):  # pointer chains are compacted long before this
            missing = sorted(p for p in todo if p not in docs)
            if not missing:
                break
            got = documents.get_all([(PROFILES, p) for p in missing])
            reads += len(missing)
            todo = set()
            for pid in missing:
                doc = docs[pid] = got[(PROFILES, pid)]
                if is_forwarded(doc):
                    todo.add(str(doc["merged_into"]))  # type: ignore[index]
        for pid in batch:
            current, hops = pid, 0
            while is_forwarded(docs.get(current)) and hops < 32:
                current, hops = str(docs[current]["merged_into"]), hops + 1  # type: ignore[index]
            if current != pid and docs.get(current) is not None:
                merged[pid] = current
            ids = ((docs.get(pid) or {}).get("identifiers") or {}).get("anonymous_id") or []
            if ids:
                anonymous[pid] = str(min(ids))
    return merged, anonymous, reads
