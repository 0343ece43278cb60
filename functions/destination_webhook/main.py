"""Webhook destination: engaged events (and opted-in back-fills) to a customer's endpoint."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import services
from shared.entrypoints import consume


@functions_framework.cloud_event
def deliver(cloud_event: CloudEvent) -> None:
    s = services()
    consume(cloud_event.data, s.webhook.handle, lambda: s.publisher, stage="webhook")
