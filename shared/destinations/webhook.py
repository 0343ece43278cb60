"""The generic webhook destination: each message's events, filtered, POSTed as Segment batches.

A request's body is ``{"batch": [events...], "sentAt": ..., "delivery": {...}}``, at most
``webhook_max_events`` events and ``webhook_max_bytes`` of them, so any receiver of Segment's
batch format can read it. With ``webhook_secret`` set, ``X-Signature-256: sha256=<hex>`` is
the HMAC-SHA256 of the exact body, which the receiver recomputes to know the request is ours
and untouched.

A back-fill message (kind ``backfill``, see ``shared.destinations.backfill``) is sent only when
``webhook_backfill`` opts in; its body adds ``"backfill": {"anonymousId", "userId"}`` so the
receiver can attribute the anonymous journey to the person. Its ``meta.consent`` is the
person's consent at back-fill time: a refused ``webhook_consent_category`` keeps all of it back.

Delivery is at least once: a retry resends the message's every request, so receivers dedupe on
each event's ``messageId`` (it never changes, back-fills included).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from shared.destinations.backfill import KIND as BACKFILL_KIND
from shared.destinations.delivery import Outcome, outcome
from shared.destinations.filters import EventFilter
from shared.envelope import Envelope, batches, dumps
from shared.errors import BackendUnavailable, PermanentError
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest, HttpSender
from shared.settings import Settings

SIGNATURE_HEADER = "X-Signature-256"
USER_AGENT = "cdp-webhook/1"


class WebhookRefused(PermanentError):
    """The receiver answered a 4xx other than 408/429: the same request would be refused again."""


@dataclass
class DeliveryResult:
    requests: int = 0
    events: int = 0
    filtered: int = 0  # events the destination's filter or consent kept back


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _person_consent(envelope: Envelope) -> dict[str, Any]:
    """The consent a back-fill carries (see ``shared.destinations.backfill``); live events carry
    theirs in each event."""
    consent = envelope.meta.get("consent")
    return consent if isinstance(consent, dict) else {}


class WebhookDestination:
    def __init__(self, settings: Settings, http: HttpSender, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._filter = EventFilter.of(
            settings.webhook_event_types, settings.webhook_events, settings.webhook_consent_category
        )

    @property
    def configured(self) -> bool:
        return bool(self._settings.webhook_url)

    def handle(self, envelope: Envelope) -> DeliveryResult:
        result = DeliveryResult()
        if not self.configured or not self._wants(envelope.kind):
            return result
        if not self._filter.takes_person(_person_consent(envelope)):
            result.filtered = len(envelope.events)
            return result
        events = [dumps(e) for e in envelope.events if self._filter.takes(e)]
        result.filtered = len(envelope.events) - len(events)
        s = self._settings
        for chunk in batches(events, s.webhook_max_events, s.webhook_max_bytes):
            self._post(self._body(envelope, chunk))
            result.requests += 1
            result.events += len(chunk)
        return result

    def _wants(self, kind: str) -> bool:
        if kind == BACKFILL_KIND:
            return self._settings.webhook_backfill
        return kind == "events"

    def _body(self, envelope: Envelope, events: list[bytes]) -> bytes:
        """The request body around events already written as JSON (each written once)."""
        rest: dict[str, Any] = {
            "sentAt": self._clock.now().isoformat().replace("+00:00", "Z"),
            "delivery": {"message": envelope.message_id, "kind": envelope.kind},
        }
        if envelope.kind == BACKFILL_KIND:
            meta = envelope.meta
            rest["backfill"] = {
                "anonymousId": meta.get("anonymousId"),
                "userId": meta.get("userId") or None,
            }
        return b'{"batch":[' + b",".join(events) + b"]," + dumps(rest)[1:]

    def _post(self, body: bytes) -> None:
        s = self._settings
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if s.webhook_secret:
            headers[SIGNATURE_HEADER] = signature(s.webhook_secret, body)
        answer = self._http.send(
            HttpRequest("POST", s.webhook_url, headers, body, s.webhook_timeout_seconds)
        )
        verdict = outcome(answer.status)
        if verdict is Outcome.RETRY:
            raise BackendUnavailable(f"webhook answered {answer.status}")
        if verdict is Outcome.PERMANENT:
            raise WebhookRefused(f"webhook answered {answer.status}: {answer.body[:200]!r}")
