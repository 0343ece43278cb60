"""Profiles and their identifiers in the document store.

Collections:
    identifiers/{type}:{value}  → {"profile_id", "type", "value", "linked_at"}
    profiles/{profile_id}       → identifiers ({type: [values]}), traits (each with its time
                                  and source), first_seen, last_seen, conflicts

Every update is idempotent (traits by event time, seen-times by min/max, identifiers by set
union), so a redelivered message changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from shared.ports.documents import Doc, DocumentStore, Ref, Transaction

IDENTIFIERS = "identifiers"
PROFILES = "profiles"
ID_FIELDS = (("user_id", "userId"), ("anonymous_id", "anonymousId"))  # in priority order

Identifier = tuple[str, str]


def identifier_doc_id(identifier: Identifier) -> str:
    kind, value = identifier
    return f"{kind}:{quote(value, safe='')}"


def identifiers_of(event: dict[str, Any]) -> list[Identifier]:
    found = []
    for kind, field in ID_FIELDS:
        value = event.get(field)
        if value not in (None, ""):
            found.append((kind, str(value)))
    return found


def traits_of(event: dict[str, Any]) -> dict[str, Any]:
    traits = dict((event.get("context") or {}).get("traits") or {})
    if event.get("type") == "identify":
        traits.update(event.get("traits") or {})
    return traits


def apply_event(profile: Doc, event: dict[str, Any], identifiers: list[Identifier]) -> Doc:
    """The profile after ``event``: a pure function, so replays and reorderings agree."""
    out = dict(profile)
    when = str(event.get("timestamp") or event.get("receivedAt") or "")
    by_type: dict[str, list[str]] = {k: list(v) for k, v in (out.get("identifiers") or {}).items()}
    for kind, value in identifiers:
        by_type[kind] = sorted(set(by_type.get(kind, [])) | {value})
    out["identifiers"] = by_type
    traits = dict(out.get("traits") or {})
    for name, value in traits_of(event).items():
        current = traits.get(name)
        if current is None or str(current.get("at", "")) <= when:
            traits[name] = {"value": value, "at": when, "source": event.get("sourceId")}
    out["traits"] = traits
    out["first_seen"] = min(filter(None, [out.get("first_seen"), when]), default=when)
    out["last_seen"] = max(filter(None, [out.get("last_seen"), when]), default=when)
    return out


class ProfileRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def record(self, event: dict[str, Any]) -> str | None:
        """Attach the event to its profile (creating it) and return the profile id."""
        identifiers = identifiers_of(event)
        if not identifiers:
            return None
        return self._store.run_transaction(lambda tx: self._record(tx, event, identifiers))

    def _record(self, tx: Transaction, event: dict[str, Any], identifiers: list[Identifier]) -> str:
        refs: list[Ref] = [(IDENTIFIERS, identifier_doc_id(i)) for i in identifiers]
        links = tx.get_all(refs)
        owners = [doc["profile_id"] for doc in (links[r] for r in refs) if doc]
        profile_id = owners[0] if owners else str(uuid.uuid4())
        profile = tx.get(PROFILES, profile_id) or {"profile_id": profile_id}
        conflicts = [o for o in owners if o != profile_id]
        mine = [
            i
            for i, r in zip(identifiers, refs, strict=True)
            if (links[r] or {"profile_id": profile_id})["profile_id"] == profile_id
        ]
        updated = apply_event(profile, event, mine)
        if conflicts:  # merging two profiles is the identity resolver's job; never forced here
            updated["conflicts"] = sorted(set(updated.get("conflicts", [])) | set(conflicts))
        if updated != profile:
            tx.set(PROFILES, profile_id, updated)
        for identifier, ref in zip(identifiers, refs, strict=True):
            if links[ref] is None:
                kind, value = identifier
                tx.set(*ref, {"profile_id": profile_id, "type": kind, "value": value})
        return profile_id

    def find(self, identifier: Identifier) -> Doc | None:
        link = self._store.get(IDENTIFIERS, identifier_doc_id(identifier))
        return self._store.get(PROFILES, link["profile_id"]) if link else None
