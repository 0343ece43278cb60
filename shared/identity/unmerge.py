"""Unmerge: remove one piece of evidence (a wrong link or merge) and recompute the people from
the evidence that remains, replayed in event-time order through the same merge rule.

The part holding the profile's highest-priority identifier keeps the profile id; each other
part gets a new id, derived from the cause so that a retried transaction picks the same one.
Traits, consent and first-touch go to the part holding the identifier of the event that set
them. The removed evidence stays on every part, under ``unmerged``, for audit; replaying the
same event later links the identifiers again (the data said so twice).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import NotFound
from shared.identity.changes import Assignment, IdentityChange, decided_now
from shared.identity.config import IdentityConfig
from shared.identity.evidence import Entry
from shared.identity.graph import IDENTIFIERS, PROFILES, Resolver, identifier_ref
from shared.identity.identifiers import Identifier
from shared.identity.records import Doc, identifier_set, new_profile, with_identifiers
from shared.identity.rules import plan_event
from shared.ports.documents import DocumentStore, Transaction


@dataclass
class Part:
    identifiers: set[Identifier] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)


def replay(
    entries: Sequence[Entry],
    everyone: set[Identifier],
    config: IdentityConfig,
    isolated: frozenset[Identifier] = frozenset(),
) -> list[Part]:
    """The people that ``entries`` make of ``everyone`` (identifiers no entry mentions stay
    alone, and so do the ``isolated``: they link nothing). Pure: the same evidence gives the
    same parts, whatever order it is given in."""
    parts: dict[str, Part] = {}
    owner: dict[Identifier, str] = {}
    linkable = everyone - isolated
    for n, entry in enumerate(sorted(entries, key=lambda e: (e["at"], e["id"]))):
        ids = {Identifier.parse(k) for k in entry["identifiers"]} & linkable
        if not ids:
            continue
        ordered = sorted(ids, key=lambda i: (config.rank(i.type), i.type, i.value))
        holdings = {
            pid: _by_type(part.identifiers)
            for pid, part in parts.items()
            if any(owner.get(i) == pid for i in ordered)
        }
        plan = plan_event(ordered, {i: owner.get(i) for i in ordered}, holdings, config)
        target = plan.target or f"p{n}"
        part = parts.setdefault(target, Part())
        for absorbed in plan.absorbed:
            gone = parts.pop(absorbed)
            part.identifiers |= gone.identifiers
            part.entries += gone.entries
            owner.update(dict.fromkeys(gone.identifiers, target))
        part.identifiers |= set(plan.added)
        owner.update(dict.fromkeys(plan.added, target))
        if plan.accepted:
            part.entries.append(entry)
    for n, lone in enumerate(sorted(everyone - set(owner))):
        parts[f"lone{n}"] = Part({lone})
    return sorted(parts.values(), key=lambda p: _top(p.identifiers, config))


def _by_type(identifiers: set[Identifier]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in identifiers:
        out.setdefault(i.type, []).append(i.value)
    return out


def _top(identifiers: set[Identifier], config: IdentityConfig) -> tuple[int, str, str]:
    best = min(identifiers, key=lambda i: (config.rank(i.type), i.type, i.value))
    return config.rank(best.type), best.type, best.value


def _slots_for(slots: Mapping[str, Any], keys: set[str], default: bool) -> dict[str, Any]:
    return {n: s for n, s in slots.items() if s.get("by") in keys or (default and not s.get("by"))}


def split(
    profile: Mapping[str, Any], cause: Mapping[str, Any], parts: Sequence[Part], at: str
) -> list[Doc]:
    """The profile documents of the parts; the first part keeps the profile id. ``cause``
    (``{"id": ..., ...}``) is what split it, kept under ``unmerged`` on every part."""
    root_id = str(profile["profile_id"])
    ids = [root_id] + [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{root_id}|{cause['id']}|{min(p.identifiers)}"))
        for p in parts[1:]
    ]
    record = {**cause, "at": at, "parts": ids}
    docs = []
    for n, (pid, part) in enumerate(zip(ids, parts, strict=True)):
        keys = {i.key for i in part.identifiers}
        times = [e["at"] for e in part.entries]
        doc = with_identifiers(new_profile(pid, min(times, default=at)), part.identifiers)
        doc["traits"] = _slots_for(profile.get("traits") or {}, keys, n == 0)
        claimed = sorted(k for k in profile.get("claimed") or [] if k in keys)
        if claimed:
            doc["claimed"] = claimed
        consent = _slots_for(profile.get("consent") or {}, keys, n == 0)
        if consent:
            doc["consent"] = consent
        touch = profile.get("first_touch")
        if touch and (touch.get("by") in keys or (n == 0 and not touch.get("by"))):
            doc["first_touch"] = touch
        times += [s["at"] for s in doc["traits"].values()]
        doc["first_seen"] = min(times, default=profile.get("first_seen"))
        doc["last_seen"] = max(times, default=profile.get("last_seen"))
        doc["evidence"] = part.entries
        if n == 0 and profile.get("conflicts"):
            doc["conflicts"] = profile["conflicts"]
        doc["unmerged"] = [*(profile.get("unmerged") or []), record]
        docs.append(doc)
    return docs


def unmerged_change(
    root: Mapping[str, Any], cause: Mapping[str, Any], docs: Sequence[Doc], at: str, reason: str
) -> IdentityChange:
    """The split as identity change: the identifiers that moved to the new parts."""
    moved = [
        Assignment(i.type, i.value, str(doc["profile_id"]))
        for doc in docs[1:]
        for i in sorted(identifier_set(doc))
    ]
    epoch = len(root.get("unmerged") or [])
    key = f"unmerge|{root['profile_id']}|{cause['id']}|{epoch}"
    return IdentityChange(
        change_id=hashlib.sha256(key.encode()).hexdigest()[:32],
        change="unmerged",
        at=at,
        assignments=tuple(moved),
        profile_id=str(root["profile_id"]),
        message_id=cause.get("message_id"),
        source_id=cause.get("source_id"),
        reason=reason,
        extra={"parts": [d["profile_id"] for d in docs]},
        decided_at=decided_now(),
    )


def write_parts(tx: Transaction, docs: Sequence[Doc], at: str, message_id: str) -> None:
    """The parts' profiles, and the identifier documents of those that moved to a new part
    (a moved identifier keeps the other fields of its document, e.g. ``shared``)."""
    for doc in docs:
        tx.set(PROFILES, doc["profile_id"], doc)
    for doc in docs[1:]:
        for moved in identifier_set(doc):
            tx.set(
                IDENTIFIERS,
                moved.doc_id,
                {
                    "profile_id": doc["profile_id"],
                    "type": moved.type,
                    "value": moved.value,
                    "linked_at": at,
                    "message_id": message_id,
                },
            )


class Unmerger:
    def __init__(self, store: DocumentStore, config: IdentityConfig) -> None:
        self._store = store
        self._config = config

    def unmerge(self, identifier: Identifier, evidence: str, at: str) -> IdentityChange:
        """Remove ``evidence`` from the profile of ``identifier`` and split what no longer
        holds together. Raises NotFound when there is no such profile or evidence."""
        return self._store.run_transaction(lambda tx: self._unmerge(tx, identifier, evidence, at))

    def _unmerge(
        self, tx: Transaction, identifier: Identifier, evidence: str, at: str
    ) -> IdentityChange:
        link = tx.get(*identifier_ref(identifier))
        resolver = Resolver(tx)
        if link:
            resolver.load({str(link["profile_id"])})
        root_id = resolver.root(link["profile_id"]) if link else None
        root = resolver.docs.get(root_id) if root_id else None
        if root is None:
            raise NotFound(f"no profile holds {identifier.key}")
        entries = root.get("evidence") or []
        removed = next((e for e in entries if e["id"] == evidence), None)
        if removed is None:
            raise NotFound(f"profile {root_id} has no evidence {evidence}")
        remaining = [e for e in entries if e is not removed]
        parts = replay(remaining, identifier_set(root), self._config)
        cause = {"id": evidence, "evidence": evidence, "entry": removed}
        docs = split(root, cause, parts, at)
        write_parts(tx, docs, at, f"unmerge:{evidence}")
        cause = {
            **cause,
            "message_id": removed.get("message_id"),
            "source_id": removed.get("source_id"),
        }
        reason = f"evidence {evidence} removed by an operator"
        return unmerged_change(root, cause, docs, at, reason)
