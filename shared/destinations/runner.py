"""The delivery path every destination shares: one Pub/Sub message of events in, the provider's
requests out.

1. Only live events (``profiled-events``: each with the person identity resolved it to) and,
   where the destination opted in, back-fills.
2. The filter: call types, track names (or audience keys, and ``CDP_<NAME>_AUDIENCES``), and
   consent — the event's own and its person's, so a refusal on one device holds on every
   device (``filters.py``).
3. The ledger, for providers with no dedup key of their own: what this destination already
   delivered of the same engaged message (a redelivery, an identity retry, a replay from the
   dead-letter queue) is not sent again.
4. The transform's requests, paced, each judged by the one delivery rule: sent; refused (the
   events become failed events with the provider's reason, the message is acknowledged);
   retried (a short ``Retry-After`` is waited out here, twice at most; otherwise the consumer
   raises and Pub/Sub redelivers with backoff for hours, then dead-letters).
5. A report row per attempt in ``cdp_ops.deliveries`` (``cdp destinations status``). A report
   that cannot be written is logged, never retried: it must not resend the events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.destinations.backfill import KIND as BACKFILL_KIND
from shared.destinations.delivery import Outcome
from shared.destinations.filters import EventFilter
from shared.destinations.framework import (
    NOBODY,
    Event,
    Origin,
    Person,
    Request,
    Transform,
    Verdict,
)
from shared.entrypoints import structured
from shared.envelope import Envelope, dumps, encode
from shared.errors import BackendUnavailable
from shared.ports.clock import Clock
from shared.ports.documents import DocumentStore
from shared.ports.http import HttpRequest, HttpResponse, HttpSender
from shared.ports.publisher import Publisher
from shared.ports.warehouse import Warehouse
from shared.topology import FAILED_EVENTS

LEDGER = "deliveries"
IN_PROCESS_WAIT = 10.0  # a Retry-After up to this is waited out here; longer: Pub/Sub's backoff
IN_PROCESS_TRIES = 2


@dataclass
class Delivery:
    """What one attempt did: counts by event, and why events were refused."""

    events: int = 0
    delivered: set[str] = field(default_factory=set)
    filtered: int = 0  # the filter or consent kept them back
    skipped: dict[str, str] = field(default_factory=dict)  # not for this provider (no id, ...)
    refused: dict[str, str] = field(default_factory=dict)
    already: int = 0  # the ledger says they were delivered before
    requests: int = 0
    outcome: str = "delivered"
    reason: str = ""


def people_of(envelope: Envelope) -> list[Person]:
    """Each event's person: identity's ``meta.people``/``profile_of`` on live events, the
    person's consent at back-fill time on a back-fill."""
    meta = envelope.meta
    if envelope.kind == BACKFILL_KIND:
        consent = meta.get("consent")
        return [Person(None, consent if isinstance(consent, dict) else {}, {})] * len(
            envelope.events
        )
    people, profile_of = meta.get("people") or {}, meta.get("profile_of") or []
    found = []
    for n in range(len(envelope.events)):
        pid = profile_of[n] if n < len(profile_of) else None
        person = people.get(pid) if pid else None
        found.append(
            Person(pid, person.get("consent") or {}, person.get("traits") or {})
            if isinstance(person, dict)
            else NOBODY
        )
    return found


class Ledger:
    """Per destination and engaged message: the messageIds already delivered."""

    def __init__(self, store: DocumentStore, destination: str) -> None:
        self._store = store
        self._destination = destination

    def _id(self, key: str) -> str:
        return f"{self._destination}:{key}"

    def delivered(self, key: str) -> set[str]:
        doc = self._store.get(LEDGER, self._id(key)) if key else None
        return set(doc.get("message_ids") or []) if doc else set()

    def record(self, key: str, ids: set[str], at: str) -> None:
        if key and ids:
            doc = {"destination": self._destination, "message_ids": sorted(ids), "at": at}
            self._store.set(LEDGER, self._id(key), doc)


class Runner:
    def __init__(
        self,
        transform: Transform,
        *,
        http: HttpSender,
        clock: Clock,
        publisher: Publisher,
        documents: DocumentStore,
        reports: Callable[[Mapping[str, Any]], None] | None = None,
        opt_in: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transform = transform
        s, t = transform.settings, type(transform)
        self.filter = EventFilter.of(
            t.event_types if s.event_types is None else s.event_types,
            t.events if s.events is None else s.events,
            t.consent_category if s.consent_category is None else s.consent_category,
            opt_in=opt_in,
            audiences=s.audiences,
        )
        self._http, self._clock, self._publisher = http, clock, publisher
        self._ledger = None if t.provider_dedup else Ledger(documents, t.name)
        self._reports = reports
        self._sleep = sleep
        self._last_request = 0.0

    @property
    def name(self) -> str:
        return self.transform.name

    def handle(self, envelope: Envelope) -> Delivery:
        done = Delivery()
        if not self._wants(envelope) or self.transform.missing():
            return done
        events = [e for e in envelope.events if isinstance(e, dict)]
        people = people_of(envelope)
        done.events = len(events)
        chosen = [(e, p) for e, p in zip(events, people, strict=False) if self.filter.admits(e, p)]
        done.filtered = len(events) - len(chosen)
        key = str(envelope.meta.get("source_message") or envelope.message_id)
        before = self._ledger.delivered(key) if self._ledger else set()
        fresh = [(e, p) for e, p in chosen if str(e.get("messageId")) not in before]
        done.already = len(chosen) - len(fresh)
        try:
            self._deliver(Origin(envelope.message_id, envelope.kind, envelope.meta), fresh, done)
        except BackendUnavailable as error:
            done.outcome, done.reason = "retry", str(error)
            raise
        finally:
            if self._ledger and done.delivered:
                self._ledger.record(key, before | done.delivered, self._now())
            self._report(envelope, key, events, done)
        self._refuse(events, done)
        return done

    def _wants(self, envelope: Envelope) -> bool:
        replayed_for = envelope.attributes.get("replay_for")  # see operations.replay
        if replayed_for and replayed_for != self.name:
            return False
        if envelope.kind == BACKFILL_KIND:
            return self.transform.settings.backfill
        return envelope.kind == "events"

    def _deliver(self, origin: Origin, chosen: list[tuple[Event, Person]], done: Delivery) -> None:
        if not chosen:
            return
        events, people = [e for e, _ in chosen], [p for _, p in chosen]
        prepared = self.transform.prepare_message(origin, events, people)
        done.skipped.update(prepared.skipped)
        done.refused.update(prepared.refused)
        for request in prepared.requests:
            verdict, answer = self._send(request)
            done.requests += 1
            rest = self.transform.remainder(request, verdict.refused) if verdict.refused else None
            if verdict.outcome is Outcome.PERMANENT and rest is not None:
                done.refused.update(verdict.refused)
                request, (verdict, answer) = rest, self._send(rest)
                done.requests += 1
            while verdict.outcome is Outcome.SENT:
                step = self.transform.follow_up(request, answer)
                if step is None:
                    break
                request, (verdict, answer) = step, self._send(step)
                done.requests += 1
            refused = dict(verdict.refused)
            if verdict.outcome is Outcome.PERMANENT:
                refused.update({m: verdict.reason for m in request.message_ids if m not in refused})
            done.refused.update(refused)
            done.delivered |= {m for m in request.message_ids if m not in refused}
        if done.refused:
            done.outcome = "partial" if done.delivered else "refused"

    def _send(self, request: Request) -> tuple[Verdict, HttpResponse]:
        for attempt in range(IN_PROCESS_TRIES + 1):
            self._pace()
            s = self.transform.settings
            answer = self._http.send(
                HttpRequest(request.method, request.url, request.headers, request.body,
                            s.timeout_seconds)
            )  # fmt: skip
            verdict = self.transform.verdict(request, answer)
            if verdict.outcome is not Outcome.RETRY:
                return verdict, answer
            wait = verdict.retry_after_seconds
            if attempt == IN_PROCESS_TRIES or wait is None or wait > IN_PROCESS_WAIT:
                break
            self._sleep(wait)
        raise BackendUnavailable(f"{self.name}: {verdict.reason or 'retry later'}")

    def _pace(self) -> None:
        interval = type(self.transform).min_interval_seconds
        if interval:
            wait = self._last_request + interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last_request = time.monotonic()

    def _refuse(self, events: list[Event], done: Delivery) -> None:
        """Refused events go to the failed-events store with the provider's reason."""
        by_id = {str(e.get("messageId")): e for e in events}
        failures = [
            {
                "failedId": f"destination-{self.name}:{m}",
                "stage": f"destination-{self.name}",
                "reason": reason[:1000],
                "sourceId": by_id.get(m, {}).get("sourceId"),
                "messageId": m,
                "receivedAt": by_id.get(m, {}).get("receivedAt"),
                "payload": dumps(by_id.get(m, {})).decode()[:100_000],
            }
            for m, reason in sorted(done.refused.items())
        ]
        if failures:
            self._publisher.publish([encode(FAILED_EVENTS, "failed", failures)])

    def _report(self, envelope: Envelope, key: str, events: list[Event], done: Delivery) -> None:
        if self._reports is None:
            return
        received = sorted(str(e["receivedAt"]) for e in events if e.get("receivedAt"))
        row = {
            "destination": self.name,
            "source_message": key,
            "kind": envelope.kind,
            "attempt_at": self._now(),
            "outcome": done.outcome if done.events else "empty",
            "events": done.events,
            "delivered": len(done.delivered),
            "filtered": done.filtered,
            "skipped": len(done.skipped),
            "refused": len(done.refused),
            "already_delivered": done.already,
            "requests": done.requests,
            "oldest_received_at": received[0] if received else None,
            "reason": done.reason[:500] or None,
        }
        try:
            self._reports(row)
        except Exception as error:  # a report must not make Pub/Sub resend the events
            structured("WARNING", "delivery report not written", destination=self.name,
                       error=str(error))  # fmt: skip

    def _now(self) -> str:
        return self._clock.now().isoformat().replace("+00:00", "Z")


def warehouse_reports(warehouse: Warehouse, table: str) -> Callable[[Mapping[str, Any]], None]:
    def write(row: Mapping[str, Any]) -> None:
        row_id = f"{row['destination']}:{row['source_message']}:{row['attempt_at']}"
        errors = warehouse.insert_rows(table, [dict(row)], [row_id])
        if errors:
            raise ValueError(errors[0].reason)

    return write
