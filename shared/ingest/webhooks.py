"""Third-party webhooks turned into track calls: Customer.io's email reporting events.

Customer.io posts one JSON object per event (``metric``, ``event_id``, ``timestamp`` in epoch
seconds, ``data`` naming the customer and the email). Each becomes a Segment Email-spec track
event for the customer it names, so it flows like any SDK event. Its ``messageId`` derives from
Customer.io's ``event_id``, so Customer.io's own retries deduplicate like SDK retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.ingest.events import iso

Event = dict[str, Any]

CUSTOMERIO_EVENTS = {
    "sent": "Email Sent",
    "delivered": "Email Delivered",
    "opened": "Email Opened",
    "clicked": "Email Link Clicked",
    "converted": "Email Converted",
    "bounced": "Email Bounced",
    "dropped": "Email Dropped",
    "spammed": "Email Marked as Spam",
    "unsubscribed": "Unsubscribed",
    "failed": "Email Failed",
}
PROPERTY_FIELDS = {
    "email_id": "email_id",
    "delivery_id": "delivery_id",
    "subject": "email_subject",
    "campaign_id": "campaign_id",
    "broadcast_id": "broadcast_id",
    "action_id": "action_id",
    "journey_id": "journey_id",
    "newsletter_id": "newsletter_id",
    "template_id": "template_id",
    "href": "link_url",
    "link_id": "link_id",
    "recipient": "recipient",
}
WEBHOOK_PATHS = {"customerio": "customerio", "customer.io": "customerio"}
UNKNOWN_METRIC = "Customer.io webhook with unknown metric {metric!r}."


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _customer_id(data: dict[str, Any]) -> str | None:
    identifiers = _object(data.get("identifiers"))
    for value in (data.get("customer_id"), identifiers.get("id")):
        if value not in (None, ""):
            return str(value)
    return None


def _when(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return iso(datetime.fromtimestamp(value, tz=UTC))
        except (OverflowError, OSError, ValueError):
            return None
    return None


def from_customerio(payload: dict[str, Any]) -> Event | str:
    """One Customer.io reporting webhook as a track call (the rules then check it as any), or
    the reason it cannot be one."""
    data = _object(payload.get("data"))
    metric = str(payload.get("metric", ""))
    name = CUSTOMERIO_EVENTS.get(metric)
    if name is None:
        return UNKNOWN_METRIC.format(metric=metric)
    identifiers = _object(data.get("identifiers"))
    email = data.get("email_address") or identifiers.get("email")
    properties = {out: data[key] for key, out in PROPERTY_FIELDS.items() if key in data}
    properties["object_type"] = payload.get("object_type", "email")
    event: Event = {
        "type": "track",
        "event": name,
        "userId": _customer_id(data),
        "properties": properties,
        "context": {
            "integration": {"name": "customer.io"},
            "traits": {"email": email} if email else {},
        },
    }
    if payload.get("event_id"):
        event["messageId"] = f"customerio-{payload['event_id']}"
    timestamp = _when(payload.get("timestamp"))
    if timestamp:
        event["timestamp"] = timestamp
    return event
