"""What a destination's HTTP answer means, decided in one place for every destination.

2xx: sent. 408 (timeout), 429 (rate limited) and 5xx: retry later (the consumer raises and
Pub/Sub redelivers with backoff). Any other 4xx: the destination will refuse the same request
again, so retrying cannot help; it is recorded as a failed event.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PERMANENT = "permanent"


def outcome(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.PERMANENT


def json_object(raw: bytes) -> dict[str, Any]:
    """A provider's answer as a JSON object; ``{}`` for an empty, broken or non-object body,
    so a sender or deleter reads its fields with ``.get`` whatever came back."""
    try:
        found = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
