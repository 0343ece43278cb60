"""Identity: engaged events from Pub/Sub update profiles in Firestore."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import services
from shared.entrypoints import consume


@functions_framework.cloud_event
def identity(cloud_event: CloudEvent) -> None:
    s = services()
    consume(cloud_event.data, s.identity.handle, lambda: s.publisher, stage="identity")
