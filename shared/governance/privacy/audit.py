"""The audit trail: one document per request, ``privacy_requests/<id>``.

    request_id, type, status, created_at, updated_at, origin (cli | http)
    subjects     what was asked for: [{type, value}] (hashes only for a suppression)
    person       who it resolved to: {identifiers: {type: [values]}, profile_ids: [...]}
    hashes       the person's keyed hashes (hash → identifier type) on the suppression list,
                 kept after verification
    steps        each step's latest state (requests.py)
    trail        every attempt of every step, appended: {at, step, status, attempts, detail}
    lease_until  while a runner works on it (another runner leaves it alone until then)
    verified     the last ``cdp privacy verify``: {at, clean, found}

The person's identifiers are the only copy of them left after a delete, so that the request can
be resumed and verified; once verification finds nothing, they are removed from the record
(by ``PrivacyService.verify``) and only counts and keyed hashes stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared.governance.privacy.requests import Step, overall
from shared.ports.documents import DocumentStore, Transaction

REQUESTS = "privacy_requests"
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class Person:
    """Everyone a request's subjects resolved to, by identity: every identifier and every
    profile id (roots and the profiles merged into them)."""

    identifiers: dict[str, list[str]] = field(default_factory=dict)
    profile_ids: tuple[str, ...] = ()

    def values(self, *types: str) -> list[str]:
        return sorted({v for t in types for v in self.identifiers.get(t, [])})

    def keys(self) -> list[str]:
        return sorted(f"{t}:{v}" for t, values in self.identifiers.items() for v in values)

    def to_doc(self) -> dict[str, Any]:
        return {"identifiers": self.identifiers, "profile_ids": list(self.profile_ids)}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Person:
        doc = doc or {}
        found = {str(k): sorted(map(str, v)) for k, v in (doc.get("identifiers") or {}).items()}
        return cls(found, tuple(doc.get("profile_ids") or ()))


@dataclass(frozen=True)
class PrivacyRequest:
    request_id: str
    type: str
    created_at: str
    subjects: tuple[dict[str, str], ...]
    steps: tuple[Step, ...]
    person: Person = field(default_factory=Person)
    hashes: dict[str, str] = field(default_factory=dict)  # keyed hash → identifier type
    origin: str = "cli"
    updated_at: str = ""
    trail: tuple[dict[str, Any], ...] = ()
    status_override: str = ""  # "verified" once verification passed
    verified: dict[str, Any] = field(default_factory=dict)
    lease_until: str = ""

    @property
    def status(self) -> str:
        return self.status_override or overall(self.steps)

    def with_step(self, step: Step) -> PrivacyRequest:
        steps = tuple(step if s.name == step.name else s for s in self.steps)
        entry = {"at": step.at, "step": step.name, "status": step.status,
                 "attempts": step.attempts, "detail": step.detail}  # fmt: skip
        return replace(self, steps=steps, trail=(*self.trail, entry), updated_at=step.at)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def to_doc(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "type": self.type,
            "status": self.status,
            "verified_status": self.status_override,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "origin": self.origin,
            "subjects": [dict(s) for s in self.subjects],
            "person": self.person.to_doc(),
            "hashes": dict(self.hashes),
            "steps": [s.to_doc() for s in self.steps],
            "trail": list(self.trail),
            "verified": dict(self.verified),
            "lease_until": self.lease_until,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PrivacyRequest:
        return cls(
            request_id=str(doc["request_id"]),
            type=str(doc["type"]),
            created_at=str(doc.get("created_at") or ""),
            subjects=tuple(doc.get("subjects") or ()),
            steps=tuple(Step.from_doc(s) for s in doc.get("steps") or ()),
            person=Person.from_doc(doc.get("person")),
            hashes=dict(doc.get("hashes") or {}),
            origin=str(doc.get("origin") or "cli"),
            updated_at=str(doc.get("updated_at") or ""),
            trail=tuple(doc.get("trail") or ()),
            status_override=str(doc.get("verified_status") or ""),
            verified=dict(doc.get("verified") or {}),
            lease_until=str(doc.get("lease_until") or ""),
        )

    def public(self) -> dict[str, Any]:
        """What ``cdp privacy status`` prints: everything but the lease."""
        doc = self.to_doc()
        doc.pop("lease_until")
        doc.pop("verified_status")
        return doc


class AuditTrail:
    """Requests in the document store; every change to a request goes through ``save``."""

    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    def get(self, request_id: str) -> PrivacyRequest | None:
        from shared.ports.documents import valid_id

        if not valid_id(request_id):
            return None
        doc = self._documents.get(REQUESTS, request_id)
        return PrivacyRequest.from_doc(doc) if doc else None

    def save(self, request: PrivacyRequest) -> None:
        self._documents.set(REQUESTS, request.request_id, request.to_doc())

    def open_requests(self, limit: int = 1000) -> list[str]:
        """Requests some step of which is still to be tried (for the resume schedule)."""
        docs = self._documents.list(REQUESTS, limit=limit)
        return [rid for rid, doc in docs if doc.get("status") in ("running", "pending")]

    def lease(self, request_id: str, now: datetime) -> PrivacyRequest | None:
        """Take the request for ``LEASE_SECONDS`` unless another runner holds it; None if it
        is held (or gone)."""
        until = (now + timedelta(seconds=LEASE_SECONDS)).isoformat()

        def take(tx: Transaction) -> PrivacyRequest | None:
            doc = tx.get(REQUESTS, request_id)
            if doc is None or (doc.get("lease_until") or "") > now.isoformat():
                return None
            tx.set(REQUESTS, request_id, {**doc, "lease_until": until})
            return PrivacyRequest.from_doc({**doc, "lease_until": until})

        return self._documents.run_transaction(take)

    def release(self, request: PrivacyRequest) -> None:
        self.save(replace(request, lease_until=""))
