"""The GA4 stand-in refuses what GA4's validation server refuses, and answers like GA4."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from shared.local.ga4_standin import GA4StandIn, validate

NOW = time.time()
QUERY = {"measurement_id": ["G-TEST"], "api_secret": ["s"]}
OWN = {"session_id": "1", "engagement_time_msec": 100}
GOOD = {"client_id": "c.1", "events": [{"name": "page_view", "params": OWN}]}


def with_event(**event: Any) -> dict[str, Any]:
    return {"client_id": "c.1", "events": [{"name": "x", "params": dict(OWN), **event}]}


CASES: list[tuple[str, Any, dict[str, list[str]], str | None]] = [
    ("valid", GOOD, QUERY, None),
    ("no api_secret", GOOD, {"measurement_id": ["G"]}, "VALUE_REQUIRED"),
    ("not JSON", b"{", QUERY, "VALUE_INVALID"),
    ("no client_id", {"events": GOOD["events"]}, QUERY, "VALUE_REQUIRED"),
    ("no events", {"client_id": "c"}, QUERY, "VALUE_REQUIRED"),
    ("26 events", {"client_id": "c", "events": GOOD["events"] * 26}, QUERY,
     "EXCEEDED_MAX_ENTITIES"),
    ("name starts with a digit", with_event(name="1abc"), QUERY, "NAME_INVALID"),
    ("name with a space", with_event(name="a b"), QUERY, "NAME_INVALID"),
    ("name of 41 characters", with_event(name="a" * 41), QUERY, "NAME_INVALID"),
    ("reserved name", with_event(name="first_visit"), QUERY, "NAME_RESERVED"),
    ("reserved prefix firebase_", with_event(name="firebase_x"), QUERY, "NAME_RESERVED"),
    ("reserved prefix gtag.", with_event(name="gtag.x"), QUERY, "NAME_INVALID"),
    ("26 params", with_event(params={**OWN, **{f"p{i}": i for i in range(24)}}), QUERY,
     "EXCEEDED_MAX_ENTITIES"),
    ("param name reserved", with_event(params={**OWN, "ga_p": 1}), QUERY, "NAME_RESERVED"),
    ("param value of 101", with_event(params={**OWN, "p": "v" * 101}), QUERY,
     "VALUE_OUT_OF_BOUNDS"),
    ("param value an object", with_event(params={**OWN, "p": {"a": 1}}), QUERY, "VALUE_INVALID"),
    ("timestamp 73 h old", with_event(timestamp_micros=int((NOW - 73 * 3600) * 1e6)), QUERY,
     "VALUE_OUT_OF_BOUNDS"),
    ("timestamp in seconds", with_event(timestamp_micros=int(NOW)), QUERY,
     "VALUE_OUT_OF_BOUNDS"),
    ("no session_id", with_event(params={"engagement_time_msec": 1}), QUERY, "VALUE_REQUIRED"),
    ("body of 130 kB", {"client_id": "c", "events": [], "pad": "x" * 130_000}, QUERY,
     "VALUE_OUT_OF_BOUNDS"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "query", "code"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_validation(payload: Any, query: dict[str, list[str]], code: str | None) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    codes = [m["validationCode"] for m in validate(body, query, NOW)]
    assert codes == ([] if code is None else [code])


@pytest.fixture
def standin() -> Iterator[GA4StandIn]:
    server = GA4StandIn()
    server.start()
    yield server
    server.stop()


def post(url: str, payload: Any) -> tuple[int, bytes]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, answer.read()


def test_collect_answers_204_even_to_bad_payloads_and_keeps_both(standin: GA4StandIn) -> None:
    query = "?measurement_id=G-TEST&api_secret=s"
    assert post(standin.url + "/mp/collect" + query, GOOD)[0] == 204
    assert post(standin.url + "/mp/collect" + query, with_event(name="error"))[0] == 204
    assert [e["name"] for e in standin.events()] == ["page_view"]
    [rejected] = standin.rejected
    assert rejected["messages"][0]["validationCode"] == "NAME_RESERVED"


def test_debug_endpoint_answers_validation_messages(standin: GA4StandIn) -> None:
    query = "?measurement_id=G-TEST&api_secret=s"
    status, body = post(standin.url + "/debug/mp/collect" + query, with_event(name="_x"))
    assert status == 200
    assert json.loads(body)["validationMessages"][0]["validationCode"] == "NAME_INVALID"
    assert json.loads(post(standin.url + "/debug/mp/collect" + query, GOOD)[1]) == {
        "validationMessages": []
    }
    assert standin.accepted == [] and standin.rejected == []  # debug requests are not kept
