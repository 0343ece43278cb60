"""Warehouse loader: batches from Pub/Sub into BigQuery, idempotently."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import services
from shared.entrypoints import consume


@functions_framework.cloud_event
def load(cloud_event: CloudEvent) -> None:
    s = services()
    consume(cloud_event.data, s.loader.handle, lambda: s.publisher, stage="warehouse")
