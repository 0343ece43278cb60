"""The cold path's GA4 leg: a ``cold-events`` message → GA4 Measurement Protocol requests.

(The warehouse loader archives the same message into the cold archive through its own
subscription, so a GA4 outage never holds back the archive.)

Outcomes, decided per request by ``shared.destinations.delivery.outcome(status)``: 2xx sent;
429, 408 and 5xx retried (the whole message is redelivered by Pub/Sub; a cold message is one
ingest request, normally one visitor and one GA4 request, so a retry rarely re-sends anything);
other 4xx permanent. A
payload the mapping cannot make valid, or that GA4's debug endpoint refuses (when
``ga4_validate`` is on), is permanent too: recorded as a failed event, never sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from shared.destinations.delivery import Outcome, outcome
from shared.envelope import Envelope
from shared.errors import BackendUnavailable, PermanentError
from shared.ports.clock import Clock
from shared.ports.http import HttpRequest, HttpSender
from shared.settings import Settings
from shared.tiering.ga4 import Payload, body, build_requests, problems

COLD_KIND = "cold"


class Ga4Refused(PermanentError):
    """GA4 (or the mapping's own check) refused some payloads; the others were sent."""


@dataclass
class ForwardResult:
    requests: int = 0  # GA4 collect requests sent
    events: int = 0  # GA4 events in them
    skipped: int = 0  # events with no acceptable GA4 form (too old, identify, no client id)
    refused: list[str] = field(default_factory=list)


class Ga4Forwarder:
    def __init__(self, settings: Settings, http: HttpSender, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock

    @property
    def configured(self) -> bool:
        return bool(self._settings.ga4_measurement_id and self._settings.ga4_api_secret)

    def handle(self, envelope: Envelope) -> ForwardResult:
        result = ForwardResult()
        if envelope.kind != COLD_KIND or not self.configured:
            return result
        payloads, result.skipped = build_requests(envelope.events, self._clock.now())
        for payload in payloads:
            refused = self._refusal(payload)
            if refused:
                result.refused.append(refused)
                continue
            self._send(payload, "/mp/collect")
            result.requests += 1
            result.events += len(payload["events"])
        if result.refused:
            raise Ga4Refused(
                f"GA4 refused {len(result.refused)} of {len(payloads)} requests "
                f"({result.requests} sent): {'; '.join(result.refused)[:2000]}"
            )
        return result

    def _refusal(self, payload: Payload) -> str | None:
        own = problems(payload)
        if own:
            return ", ".join(own)
        if not self._settings.ga4_validate:
            return None
        answer = self._send(payload, "/debug/mp/collect")
        try:
            messages = json.loads(answer or b"{}").get("validationMessages") or []
        except (ValueError, AttributeError):
            return "the GA4 validation endpoint answered something that is not JSON"
        return ", ".join(str(m.get("description", m)) for m in messages) or None

    def _send(self, payload: Payload, path: str) -> bytes:
        s = self._settings
        query = urlencode({"measurement_id": s.ga4_measurement_id, "api_secret": s.ga4_api_secret})
        request = HttpRequest(
            "POST",
            f"{s.ga4_endpoint.rstrip('/')}{path}?{query}",
            {"Content-Type": "application/json"},
            body(payload),
            s.ga4_timeout_seconds,
        )
        try:
            answer = self._http.send(request)
        except BackendUnavailable as error:  # its message holds the URL: keep the secret out
            raise BackendUnavailable(str(error).replace(s.ga4_api_secret, "<api_secret>")) from None
        verdict = outcome(answer.status)
        if verdict is Outcome.RETRY:
            raise BackendUnavailable(f"GA4 {path} answered {answer.status}")
        if verdict is Outcome.PERMANENT:
            raise Ga4Refused(f"GA4 {path} answered {answer.status}: {answer.body[:200]!r}")
        return answer.body
