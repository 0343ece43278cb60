"""Warehouse values as JSON carries them: the one rule for traits, events and SQL sources."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from shared.audiences.values import json_safe


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        (None, None),
        (True, True),
        (3, 3),
        ("x", "x"),
        (2.5, 2.5),
        (float("nan"), None),
        (float("inf"), None),
        (Decimal("12"), 12),
        (Decimal("12.50"), 12.5),
        (Decimal("NaN"), None),
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02T03:04:05.678Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000Z",
        ),
        (date(2026, 1, 2), "2026-01-02"),
        (time(3, 4, 5), "03:04:05"),
        (b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        ([Decimal("1"), datetime(2026, 1, 2, tzinfo=UTC)], [1, "2026-01-02T00:00:00.000Z"]),
        ({"a": Decimal("1.5"), "b": [None]}, {"a": 1.5, "b": [None]}),
        ((Decimal("1.5"), date(2026, 2, 3)), [1.5, "2026-02-03"]),  # a tuple: a list
        (float("-inf"), None),
        (Decimal("-Infinity"), None),
        ([float("nan"), 1.0], [None, 1.0]),  # a NaN in a list: null, the rest kept
        (-0.0, -0.0),
        (2**63, 2**63),  # Python ints as they are (JSON has no bound)
        ({1: "x"}, {"1": "x"}),  # JSON keys are text
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),  # else its text
    ],
)
def test_warehouse_values_become_json(value: Any, safe: Any) -> None:
    assert json_safe(value) == safe
    json.dumps(json_safe(value), allow_nan=False)  # JSON carries it as it is
