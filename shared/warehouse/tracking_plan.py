"""Where the tracking plan used to live: governance owns it now (``shared.governance.plan``).

Kept so that what still imports it from here keeps working while it moves; new code imports
``shared.governance.plan``.
"""

from __future__ import annotations

from shared.governance.plan import (
    BIGQUERY_TYPES,
    PLAN_PATH,
    EventSpec,
    Property,
    TrackingPlan,
    load_plan,
    parse_plan,
)

__all__ = [
    "BIGQUERY_TYPES",
    "PLAN_PATH",
    "EventSpec",
    "Property",
    "TrackingPlan",
    "load_plan",
    "parse_plan",
]
