"""Hostile and broken input against the running stack: each request gets its status, the server
keeps serving, and the valid events that came in the same request are all kept (exactly once).
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sdk.tap import Tap, tap

ACCEPTED = {"success": True}


def send(
    stack: dict[str, Any],
    path: str,
    body: bytes | dict[str, Any],
    key: str | None = "backend",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        secret = stack["write_keys"].get(key, key)
        sent["Authorization"] = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    request = urllib.request.Request(stack["ingest_url"] + path, data, sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def valid(tag: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "dashboard_viewed",
        "userId": f"{tag}-user",
        "messageId": f"{tag}-{n}",
        "properties": {"platform": "web", "n": n},
        **fields,
    }


def mine(tag: str) -> Any:
    return lambda e: str(e.get("messageId", "")).startswith(tag)


@pytest.fixture
def tag() -> str:
    return f"hostile-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def events(stack_env: dict[str, Any]) -> Any:
    with tap(stack_env["project_id"]) as tapped:
        yield tapped


@pytest.fixture
def failed(stack_env: dict[str, Any]) -> Any:
    with tap(stack_env["project_id"], "failed-events") as tapped:
        yield tapped


def still_serving(stack: dict[str, Any], events: Tap, tag: str) -> None:
    """After whatever came before, a plain valid call is accepted and published once."""
    status, body, _ = send(stack, "/v1/track", valid(tag, 999))
    assert (status, body) == (200, ACCEPTED)
    assert [e["messageId"] for e in events.collect(mine(f"{tag}-999"), 1, quiet=0.3)] == [
        f"{tag}-999"
    ]


BOMB = gzip.compress(b'{"batch": [' + b" " * 60_000_000 + b"]}")
DEEP_BODY = b'{"batch": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
REFUSED = [
    ("invalid JSON", "/v1/batch", b'{"batch": [', {}, "backend", 400),
    ("raw null byte", "/v1/track", b'{"event": "a\x00b", "userId": "u"}', {}, "backend", 400),
    ("JSON but not an object", "/v1/batch", b'["track"]', {}, "backend", 400),
    ("batch not a list", "/v1/batch", b'{"batch": {"type": "track"}}', {}, "backend", 400),
    ("nesting past the parser", "/v1/batch", DEEP_BODY, {}, "backend", 400),
    (
        "wrong content type",
        "/v1/track",
        b"<track/>",
        {"Content-Type": "application/xml"},
        "backend",
        415,
    ),
    ("gzip bomb", "/v1/batch", BOMB, {"Content-Encoding": "gzip"}, "backend", 413),
    ("not gzip", "/v1/batch", b"plain", {"Content-Encoding": "gzip"}, "backend", 400),
    (
        "oversize batch",
        "/v1/batch",
        json.dumps({"batch": [{"p": "x" * 30_000}] * 20}).encode(),
        {},
        "backend",
        413,
    ),
    (
        "oversize single event",
        "/v1/track",
        json.dumps({"event": "e", "userId": "u", "p": "x" * 40_000}).encode(),
        {},
        "backend",
        413,
    ),
    ("no auth", "/v1/track", b'{"event": "e", "userId": "u"}', {}, None, 401),
    ("wrong key", "/v1/track", b'{"event": "e", "userId": "u"}', {}, "not-a-key", 401),
    ("unknown path", "/v2/track", b'{"event": "e", "userId": "u"}', {}, "backend", 404),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "headers", "key", "status"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_refused_requests_get_their_status_and_publish_nothing(
    stack_env: dict[str, Any],
    events: Tap,
    tag: str,
    case: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    key: str | None,
    status: int,
) -> None:
    got, answer, _ = send(stack_env, path, body, key, headers)
    assert got == status, (case, answer)
    assert answer["success"] is False and answer["message"]
    still_serving(stack_env, events, tag)


def test_bad_events_fail_alone_and_the_valid_ones_in_the_same_batch_are_kept(
    stack_env: dict[str, Any], events: Tap, failed: Tap, tag: str
) -> None:
    deep: dict[str, Any] = {}
    for _ in range(40):
        deep = {"x": deep}
    batch = [
        valid(tag, 1),
        valid(tag, 2, properties={"blob": "x" * 33_000}),  # oversize event
        valid(tag, 3, userId={"id": 1}),  # object id
        valid(tag, 4, userId=None),  # no identity
        valid(tag, 5, properties=deep),  # too deep
        valid(tag, 6, type="launch"),  # unknown type
        valid(tag, 7, timestamp="not a time"),
        "not an event",
        valid(tag, 8, userId=12345, anonymousId=None),  # numeric id: kept, as a string
        valid(tag, 9, timestamp="2099-01-01T00:00:00Z"),  # far future: kept, stamped now
        valid(tag, 10, timestamp="1901-01-01T00:00:00Z"),  # far past: kept, stamped now
    ]
    status, answer, _ = send(stack_env, "/v1/batch", {"batch": batch})
    assert (status, answer) == (200, ACCEPTED)
    kept = {e["messageId"]: e for e in events.collect(mine(tag), 4)}
    assert sorted(kept) == sorted(f"{tag}-{n}" for n in (1, 8, 9, 10))
    assert kept[f"{tag}-8"]["userId"] == "12345"
    for n in (9, 10):
        assert kept[f"{tag}-{n}"]["timestamp"] == kept[f"{tag}-{n}"]["receivedAt"]
    reasons = {
        f.get("messageId"): f["reason"]
        for f in failed.collect(lambda f: str(f.get("messageId")).startswith(tag), 6)
    }
    assert set(reasons) == {f"{tag}-{n}" for n in (2, 3, 4, 5, 6, 7)}
    assert "larger than" in reasons[f"{tag}-2"]
    assert "deeper than" in reasons[f"{tag}-5"]
    still_serving(stack_env, events, tag)


def test_unicode_is_kept_and_null_bytes_are_dropped(
    stack_env: dict[str, Any], events: Tap, tag: str
) -> None:
    text = "Überweisung ✓ 送金 שלום 😀 e\u0301"
    batch = [
        valid(tag, 1, properties={"text": text, text: "key"}),
        valid(tag, 2, properties={"nul": "a\u0000b", "lone": "\ud800x"}),
    ]
    body = json.dumps({"batch": batch}).encode()  # ASCII-escaped, as Python SDKs send
    status, answer, _ = send(stack_env, "/v1/batch", body)
    assert (status, answer) == (200, ACCEPTED)
    raw = json.dumps({"batch": [valid(tag, 3, event=text)]}, ensure_ascii=False).encode()
    assert send(stack_env, "/v1/batch", raw)[0] == 200  # raw UTF-8, as browsers send
    kept = {e["messageId"]: e for e in events.collect(mine(tag), 3)}
    assert kept[f"{tag}-1"]["properties"] == {"text": text, text: "key"}
    assert kept[f"{tag}-2"]["properties"] == {"nul": "ab", "lone": "\ufffdx"}
    assert kept[f"{tag}-3"]["event"] == text


def test_replayed_message_ids_are_accepted_and_published_once(
    stack_env: dict[str, Any], events: Tap, tag: str
) -> None:
    batch = {"batch": [valid(tag, 1), valid(tag, 2), valid(tag, 2)]}  # a copy inside, too
    for _ in range(3):  # an SDK retrying the same batch
        assert send(stack_env, "/v1/batch", batch)[:2] == (200, ACCEPTED)
    assert send(stack_env, "/v1/track", valid(tag, 1))[:2] == (200, ACCEPTED)
    arrived = [e["messageId"] for e in events.collect(mine(tag), 2, quiet=3)]
    assert sorted(arrived) == [f"{tag}-1", f"{tag}-2"]


def test_failed_events_are_visible_to_the_operator(stack_env: dict[str, Any], tag: str) -> None:
    from tests.e2e.conftest import eventually

    status, _, _ = send(stack_env, "/v1/batch", {"batch": [valid(tag, 1, userId=None)]})
    assert status == 200
    stack_file = Path(stack_env["state_dir"]) / "stack.json"

    def listed() -> list[dict[str, Any]] | None:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shared.cli",
                "failed-events",
                "list",
                "--json",
                "--limit",
                "1000",
                "--stack",
                str(stack_file),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        rows = json.loads(done.stdout) if done.returncode == 0 else []
        return [r for r in rows if r.get("message_id") == f"{tag}-1"] or None

    [row] = eventually(listed, timeout=60, every=2)
    assert "neither userId nor anonymousId" in row["reason"]
    assert row["source_id"] == "backend"
