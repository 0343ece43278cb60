"""End-to-end helpers: HTTP to the local ingest, polling the stack's stores."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.e2e
T = TypeVar("T")


def cli(stack: dict[str, Any], *args: str, expect: int = 0) -> str:
    """``cdp <args>`` against the running stack, in this process: its output, the exit code
    checked. The settings and services are rebuilt before and after, so the command reads the
    stack file and no test sees another's."""
    from shared.bootstrap import use_services
    from shared.cli import main
    from shared.settings import get_settings

    get_settings.cache_clear()
    use_services(None)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main([*args, "--stack", str(Path(stack["state_dir"]) / "stack.json")])
    finally:
        get_settings.cache_clear()
        use_services(None)
    assert code == expect, out.getvalue()
    return out.getvalue()


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
        raw = error.read() or b"{}"
        try:
            return error.code, json.loads(raw)
        except ValueError:  # not JSON (a crash page): the status and the text, for the assert
            return error.code, {"unparsed": raw.decode(errors="replace")[:500]}


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
