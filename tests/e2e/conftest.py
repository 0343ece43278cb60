"""End-to-end helpers: HTTP to the local ingest, polling the stack's stores."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.e2e
T = TypeVar("T")


def post(
    url: str, body: dict[str, Any], write_key: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if write_key:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def eventually(probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.3) -> T:
    """Poll until ``probe`` returns something truthy; fail with the timeout otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout:.0f}s")
        time.sleep(every)
