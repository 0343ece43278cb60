"""The generic webhook destination: each message's events, filtered, POSTed as Segment batches.

A request's body is ``{"batch": [events...], "sentAt": ..., "delivery": {...}}``, at most
``CDP_WEBHOOK_MAX_EVENTS`` events and ``CDP_WEBHOOK_MAX_BYTES`` of them, so any receiver of
Segment's batch format can read it. With ``CDP_WEBHOOK_SECRET`` set,
``X-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the exact body, which the receiver
recomputes to know the request is ours and untouched.

A back-fill (kind ``backfill``, see ``shared.destinations.backfill``) is sent only when
``CDP_WEBHOOK_BACKFILL`` opts in; its body adds ``"backfill": {"anonymousId", "userId"}`` so
the receiver can attribute the anonymous journey to the person.

Delivery is at least once, with a ledger (``runner.py``): events this destination already
delivered of the same engaged message are not sent again; receivers still dedupe on each
event's ``messageId`` (it never changes, back-fills included).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.destinations.backfill import KIND as BACKFILL_KIND
from shared.destinations.framework import (
    DestinationSettings,
    Event,
    Origin,
    Person,
    Prepared,
    Request,
    Transform,
)
from shared.envelope import batches, dumps

SIGNATURE_HEADER = "X-Signature-256"
USER_AGENT = "cdp-webhook/1"


class WebhookSettings(DestinationSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_WEBHOOK_", extra="ignore")

    url: str = ""  # the receiver; empty: nothing is sent
    secret: str = Field(default="", repr=False)  # HMAC-SHA256 signing key, from secrets
    max_events: int = 100  # events per request ...
    max_bytes: int = 500 * 1024  # ... and bytes of events per request (Segment's cap)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTransform(Transform):
    name = "webhook"
    settings_class = WebhookSettings
    event_types: ClassVar[tuple[str, ...]] = ()  # every call type
    settings: WebhookSettings

    def missing(self) -> list[str]:
        return [] if self.settings.url else ["CDP_WEBHOOK_URL"]

    def prepare(self, events: Sequence[Event], people: Sequence[Person]) -> Prepared:
        return self.prepare_message(Origin(), events, people)

    def prepare_message(
        self, origin: Origin, events: Sequence[Event], people: Sequence[Person]
    ) -> Prepared:
        s = self.settings
        texts = [dumps(e) for e in events]
        prepared = Prepared()
        for chunk, written in zip(
            _chunks(events, texts, s.max_events, s.max_bytes),
            batches(texts, s.max_events, s.max_bytes),
            strict=True,
        ):
            body = self._body(origin, written)
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
            if s.secret:
                headers[SIGNATURE_HEADER] = signature(s.secret, body)
            ids = tuple(str(e.get("messageId")) for e in chunk)
            prepared.requests.append(Request("POST", s.url, headers, body, ids))
        return prepared

    def _body(self, origin: Origin, events: list[bytes]) -> bytes:
        """The request body around events already written as JSON (each written once)."""
        rest: dict[str, Any] = {
            "sentAt": self.clock.now().isoformat().replace("+00:00", "Z"),
            "delivery": {"message": origin.message_id, "kind": origin.kind},
        }
        if origin.kind == BACKFILL_KIND:
            rest["backfill"] = {
                "anonymousId": origin.meta.get("anonymousId"),
                "userId": origin.meta.get("userId") or None,
            }
        return b'{"batch":[' + b",".join(events) + b"]," + dumps(rest)[1:]


def _chunks(
    events: Sequence[Event], texts: list[bytes], max_count: int, max_bytes: int
) -> list[list[Event]]:
    """The events grouped as ``batches`` groups their JSON (the same sizes, in order)."""
    out, n = [], 0
    for group in batches(texts, max_count, max_bytes):
        out.append(list(events[n : n + len(group)]))
        n += len(group)
    return out
