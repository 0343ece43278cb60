"""A destination: engaged events (as identity resolved them) and opted-in back-fills, to one
provider. Every destination function is deployed from this folder; ``CDP_FUNCTION``, set for
each function by the local stack and by Pulumi, names it, and the topology its destination."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import services
from shared.entrypoints import consume
from shared.topology import TOPOLOGY


@functions_framework.cloud_event
def deliver(cloud_event: CloudEvent) -> None:
    s = services()
    name = TOPOLOGY.function(s.settings.function).destination
    stage = f"destination-{name}"
    consume(cloud_event.data, s.destination(name).handle, lambda: s.publisher, stage=stage)
