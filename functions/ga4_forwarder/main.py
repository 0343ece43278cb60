"""GA4 forwarder: cold events from Pub/Sub to GA4's Measurement Protocol."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import services
from shared.entrypoints import consume


@functions_framework.cloud_event
def forward(cloud_event: CloudEvent) -> None:
    s = services()
    consume(cloud_event.data, s.ga4.handle, lambda: s.publisher, stage="ga4")
