"""Real JavaScript SDKs — @segment/analytics-node, @rudderstack/rudder-sdk-node and the browser's
@segment/analytics-next in a jsdom page — pointed at the local ingest by changing only the host:
every call type arrives on the ``events`` topic exactly once, with its fields intact.

The scripts live in tests/e2e/sdk (``make test`` installs their node_modules first).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sdk.tap import assert_six_calls_exactly_once, tagged, tap

SDK_DIR = Path(__file__).parent / "sdk"
NOT_INSTALLED = "node_modules missing: run `make test-e2e` (it runs npm install in tests/e2e/sdk)"


def run_script(script: str, stack: dict[str, Any], source: str, tag: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (SDK_DIR / "node_modules").is_dir():
        pytest.fail(NOT_INSTALLED)
    done = subprocess.run(
        [node, script, stack["ingest_url"], stack["write_keys"][source], tag],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("script", "source", "library"),
    [
        ("segment-node.js", "backend", "@segment/analytics-node"),
        ("rudder-node.js", "backend", "analytics-node"),
        ("browser.js", "web", "analytics.js"),
    ],
)
def test_javascript_sdk(stack_env: dict[str, Any], script: str, source: str, library: str) -> None:
    tag = f"{script.split('.')[0]}-{uuid.uuid4().hex[:8]}"
    with tap(stack_env["project_id"]) as events:
        result = run_script(script, stack_env, source, tag)
        arrived = events.collect(tagged(tag), expected=6)
    assert result["errors"] == []
    by_type = assert_six_calls_exactly_once(arrived, tag)
    assert by_type["track"]["sourceId"] == source
    assert by_type["track"]["context"]["library"]["name"] == library
    if script == "browser.js":  # the browser's own wire format: short paths, text/plain
        paths = sorted(r["path"] for r in result["requests"])
        assert paths == ["/v1/a", "/v1/g", "/v1/i", "/v1/p", "/v1/s", "/v1/t"]
        assert {r["contentType"] for r in result["requests"]} == {"text/plain"}
