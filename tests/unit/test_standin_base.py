"""The stand-ins' shared server: checks first, then faults in order, control over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from shared.local.standins.base import Reply, StandIn


class Echo(StandIn):
    name = "echo"

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if not body:
            return Reply(400, {"error": "empty"}, reason="empty body")
        return Reply(200, "ok", delivered=({"key": body.decode()},),
                     headers={"Content-Type": "text/plain"})  # fmt: skip


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    server.start()
    yield server
    server.stop()


def call(url: str, body: bytes | None = None, method: str = "POST") -> tuple[int, Any, str]:
    request = urllib.request.Request(url, body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def test_faults_set_over_http_apply_in_order_to_requests_that_pass_the_checks(echo: Echo) -> None:
    call(f"{echo.url}/_standin/faults", json.dumps({"status": 503, "times": 1}).encode())
    assert call(f"{echo.url}/x", b"")[0] == 400  # refused by the checks: no fault spent
    assert call(f"{echo.url}/x", b"a")[0] == 503
    status, body, kind = call(f"{echo.url}/x", b"b")
    assert (status, body, kind) == (200, b"ok", "text/plain")
    listing = json.loads(call(f"{echo.url}/_standin", method="GET")[1])
    assert [e["key"] for e in listing["delivered"]] == ["b"] and listing["failed_on_purpose"] == 1
    assert [r["reason"] for r in listing["refused"]] == ["empty body"]
    call(f"{echo.url}/_standin", method="DELETE")
    assert echo.keys() == []


def test_a_slow_answer_is_still_delivered_and_retry_after_is_sent(echo: Echo) -> None:
    echo.fail(delay=0.2)
    echo.fail(status=429, times=1, retry_after=2)
    assert call(f"{echo.url}/x", b"slow")[0] == 200
    request = urllib.request.Request(f"{echo.url}/x", b"c", method="POST")
    with pytest.raises(urllib.error.HTTPError) as limited:
        urllib.request.urlopen(request, timeout=10)
    assert limited.value.code == 429 and limited.value.headers["Retry-After"] == "2"
    assert echo.keys() == ["slow"]
