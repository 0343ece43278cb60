"""Warehouse values as JSON carries them, for everything the audiences write outside BigQuery:
computed traits on the profiles (and their fingerprints), the audience events' properties, and
a SQL source's identify traits. One rule for all, so a profile and the events that copy its
traits never disagree (a NaN trait is null in both, not NaN in one and null in the other)."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from shared.ingest.events import iso


def json_safe(value: Any) -> Any:
    """Timestamps as ISO text (UTC, milliseconds), dates and times as ISO text, NUMERIC as a
    number (an integer when it is one), bytes as base64, a non-finite number as null; arrays,
    structs and JSON columns value by value; anything else as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)
