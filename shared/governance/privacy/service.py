"""Privacy requests end to end: receive, plan, run each step, resume, report, verify.

``submit`` resolves the subjects to the person, plans the steps, records the request and runs
it. Every step attempt is saved as it completes, so a crash loses nothing but the step under
way (each step is safe to repeat). Steps that could not finish (BigQuery's streaming buffer, a
provider's 429) stay pending; the ``privacy-requests`` schedule calls ``resume``, which runs
every open request again. A lease on the request keeps two runners off the same request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shared.destinations.deletion import Deleter, reason_without
from shared.errors import NotFound
from shared.governance.pii import PiiConfig, PiiGuard
from shared.governance.plan import PLAN_PATH, load_plan
from shared.governance.privacy import deadletters, firestore, people, providers, warehouse
from shared.governance.privacy.audit import AuditTrail, Person, PrivacyRequest
from shared.governance.privacy.requests import (
    BIGQUERY,
    DEAD_LETTERS_STEP,
    DELETES,
    DESTINATION,
    DONE,
    FIRESTORE,
    SUPPRESS_STEP,
    UNSUPPRESS,
    UNSUPPRESS_STEP,
    VERIFIED,
    Attempt,
    Deployment,
    Step,
    after_attempt,
    plan_steps,
    ready,
)
from shared.governance.privacy.suppression import SuppressionList, keyed_hash
from shared.governance.privacy.verify import Findings, verify
from shared.identity.identifiers import Identifier
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore
from shared.ports.http import HttpSender
from shared.ports.subscriber import Subscriber
from shared.ports.warehouse import SqlRunner
from shared.settings import Settings
from shared.warehouse.layers import OPS
from shared.warehouse.tables import datasets

VIOLATIONS_TABLE = "violation_events"


@dataclass
class PrivacyService:
    settings: Settings
    documents: DocumentStore
    clock: Clock
    sql: SqlRunner
    http: HttpSender
    subscriber: Subscriber | None = None
    deleters: Callable[[], Sequence[Deleter]] | None = None
    without_deletion: Callable[[], Sequence[str]] | None = None
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex
    guard: PiiGuard | None = None  # ingest's PII guard (built from the plan when not given)

    def __post_init__(self) -> None:
        if self.guard is None:
            plan = load_plan(Path(self.settings.tracking_plan or PLAN_PATH))
            self.guard = PiiGuard(PiiConfig.model_validate(plan.pii), self.settings.pii_hash_key)
        self.trail = AuditTrail(self.documents)
        self.suppressions = SuppressionList(self.documents, self.settings.pii_hash_key)
        declared = datasets(self.settings)
        self.shapes = [
            s for s in warehouse.shapes(self.settings.project_id, declared)
            if warehouse.holds_person(s)
        ]  # fmt: skip

    # Receiving.

    def subject(self, kind: str, value: str) -> Identifier:
        return people.subject(kind, value, self.settings.identity)

    def submit(
        self, kind: str, subjects: Sequence[Identifier], origin: str = "cli"
    ) -> PrivacyRequest:
        now = self._now()
        steps = plan_steps(kind, self._deployment())
        asked = subjects
        if self.guard is not None:  # also as ingest stored them (hashed by the PII guard)
            asked = people.as_stored(subjects, self.guard)
        if kind == UNSUPPRESS:
            hashes = self._suppressed_with(asked)
            person = Person()
        else:
            lookup = people.identity_map(self.settings, self.sql)
            person = people.resolve(self.documents, asked, lookup)
            hashes = self.suppressions.hashes(firestore.identifiers_of(person))
        shown = (
            [{"type": s.type, "value": s.value} for s in subjects]
            if kind in DELETES
            else [
                {"type": s.type, "hash": keyed_hash(self.settings.pii_hash_key, s)}
                for s in subjects
            ]
        )
        request = PrivacyRequest(
            request_id=self.new_id(),
            type=kind,
            created_at=now,
            subjects=tuple(shown),
            steps=tuple(steps),
            person=person if kind in DELETES else Person(),
            hashes=dict(sorted(hashes.items())),
            origin=origin,
            updated_at=now,
        )
        self.trail.save(request)
        return self.run(request.request_id) or request

    def _suppressed_with(self, subjects: Sequence[Identifier]) -> dict[str, str]:
        """Every hash suppressed together with the subjects (by the requests that did)."""
        found = self.suppressions.hashes(subjects)
        for subject in subjects:
            owner = self.suppressions.owner(subject)
            earlier = self.trail.get(owner) if owner else None
            if earlier is not None:
                found.update(earlier.hashes)
        return found

    def _deployment(self) -> Deployment:
        shapes = self.shapes
        events = [s.short for s in shapes if warehouse.is_event_table(s)]
        messages = sorted(
            (s.short for s in shapes if warehouse.is_message_table(s) or _failed(s.short)),
            key=_failed,  # violations first: they are found through the failed events too
        )
        others = [s.short for s in shapes if s.short not in {*events, *messages}]
        absent = []
        if not any(s.short.endswith(f".{VIOLATIONS_TABLE}") for s in shapes):
            target = f"{self.settings.dataset(OPS)}.{VIOLATIONS_TABLE}"
            absent.append((f"{BIGQUERY}:{target}", "not declared in this deployment"))
        with_api = [d.name for d in self._deleters()]
        without = [(n, reason_without(n)) for n in self._without()]
        return Deployment(
            tables=(*messages, *others, *events),
            message_tables=tuple(messages),
            event_tables=tuple(events),
            collections=firestore.COLLECTIONS,
            destinations=tuple(with_api),
            without_deletion=tuple(without),
            dead_letters=self.subscriber is not None,
            absent=tuple(absent),
        )

    def _deleters(self) -> Sequence[Deleter]:
        if self.deleters is not None:
            return self.deleters()
        from shared.destinations.deletion import deleters

        return deleters(self.settings, clock=self.clock)

    def _without(self) -> Sequence[str]:
        if self.without_deletion is not None:
            return self.without_deletion()
        from shared.destinations.deletion import without_deletion

        return without_deletion(self.settings)

    # Running.

    def run(self, request_id: str) -> PrivacyRequest | None:
        """Try every step that is ready, in order; None if another runner holds it."""
        request = self.trail.lease(request_id, self.clock.now())
        if request is None:
            return None
        try:
            for step in request.steps:
                current = request.step(step.name)
                if not ready(current, request.steps):
                    continue
                attempt = self._attempt(request, current)
                request = request.with_step(after_attempt(current, attempt, self._now()))
                self.trail.save(request)
        finally:
            self.trail.release(request)
        return replace(request, lease_until="")

    def _attempt(self, request: PrivacyRequest, step: Step) -> Attempt:
        try:
            return self._executor(request, step.store)(step.target)
        except Exception as error:  # recorded on the step and retried, never lost
            return Attempt("pending", f"{type(error).__name__}", error=True)

    def _executor(self, request: PrivacyRequest, store: str) -> Callable[[str], Attempt]:
        person, at = request.person, self._now()
        if store == SUPPRESS_STEP:
            hashes = request.hashes
            return lambda _: Attempt(
                DONE,
                f"{self.suppressions.add(hashes, request.request_id, at)} of "
                f"{len(hashes)} identifiers newly suppressed",
            )
        if store == UNSUPPRESS_STEP:
            return lambda _: Attempt(
                DONE,
                f"{self.suppressions.remove(list(request.hashes), at)} identifiers unsuppressed",
            )
        if store == BIGQUERY:
            return warehouse.step(self.sql, self.shapes, person)
        if store == FIRESTORE:
            return firestore.step(self.documents, person)
        if store == DESTINATION:
            return providers.step(self._deleters(), self.http, person)
        if store == DEAD_LETTERS_STEP and self.subscriber is not None:
            return deadletters.step(self.subscriber, self.dead_letter_names(), person)
        raise ValueError(f"no executor for step store {store!r}")

    def resume(self) -> dict[str, Any]:
        """Run every open request again (the ``privacy-requests`` schedule)."""
        done: dict[str, str] = {}
        for request_id in self.trail.open_requests():
            ran = self.run(request_id)
            done[request_id] = ran.status if ran else "leased elsewhere"
        return {"resumed": len(done), "requests": done}

    # Reporting.

    def status(self, request_id: str) -> PrivacyRequest:
        request = self.trail.get(request_id)
        if request is None:
            raise NotFound(f"no privacy request {request_id!r}")
        return request

    def dead_letter_names(self) -> list[str]:
        return deadletters.subscriptions(self.settings)

    def verify(self, request_id: str) -> Findings:
        """Search every store for the request's person; once nothing is found and every step
        is done, the request forgets the person's identifiers (the hashes stay)."""
        request = self.status(request_id)
        findings = verify(
            request.person,
            documents=self.documents,
            sql=self.sql,
            shapes=self.shapes,
            subscriber=self.subscriber,
            dead_letters=self.dead_letter_names() if self.subscriber else [],
        )
        record = {"at": self._now(), **findings.to_json()}
        if request.type not in DELETES or not request.person.identifiers:
            return findings
        if findings.clean and request.status == DONE:
            counts = {t: len(v) for t, v in request.person.identifiers.items()}
            record["identifiers"] = counts
            request = replace(
                request,
                person=Person(),
                subjects=tuple({"type": s["type"]} for s in request.subjects),
                status_override=VERIFIED,
            )
        self.trail.save(replace(request, verified=record, updated_at=str(record["at"])))
        return findings

    def _now(self) -> str:
        return self.clock.now().isoformat()


def _failed(table: str) -> bool:
    return table.endswith(".failed_events")


def from_services(services: Any) -> PrivacyService:
    """The service on a ``shared.bootstrap.Services`` (its stores, clock, HTTP, subscriber)."""
    return PrivacyService(
        settings=services.settings,
        documents=services.documents,
        clock=services.clock,
        sql=services.sql,
        http=services.http,
        subscriber=services.subscriber,
        guard=PiiGuard(PiiConfig.model_validate(services.plan.pii), services.settings.pii_hash_key),
    )
