"""`cdp dev` as an operator runs it: READY with a stack.json (the webhook stand-in listening),
a second stack beside the first, SIGTERM stops everything it started, and a missing emulator is
one clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from shared.local.processes import port_is_free

REPO = Path(__file__).resolve().parents[2]
CDP = [sys.executable, "-m", "shared.cli"]
STACK_KEYS = {
    "project_id",
    "ingest_url",
    "functions",
    "emulators",
    "environment",
    "topics",
    "subscriptions",
    "dead_letter_subscriptions",
    "datasets",
    "schedules",
    "write_keys",
    "webhook_url",
}


def test_cdp_dev_reaches_ready_writes_stack_json_and_stops_cleanly(tmp_path: Path) -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [*CDP, "dev", "--no-demo", "--free-ports", "--state-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ready = None
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("READY "):
                ready = json.loads(line[len("READY ") :])
                break
        assert ready is not None, "cdp dev exited before READY"
        assert time.monotonic() - started < 60
        assert set(ready) >= STACK_KEYS
        assert json.loads((tmp_path / "stack.json").read_text()) == ready
        ports = [ready["emulators"][e]["port"] for e in ("pubsub", "firestore", "bigquery")]
        ports += [f["port"] for f in ready["functions"].values()]
        ports.append(int(urlsplit(ready["webhook_url"]).port or 0))
        assert not any(port_is_free(p) for p in ports)
        with urllib.request.urlopen(ready["webhook_url"], timeout=10) as answer:
            assert json.loads(answer.read()) == {"accepted": [], "rejected": []}
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(port_is_free(p) for p in ports):
        time.sleep(0.2)
    assert all(port_is_free(p) for p in ports), "something kept a port after SIGTERM"


def test_a_missing_emulator_is_one_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDSDK_ROOT_DIR": str(tmp_path / "no-sdk")}
    result = subprocess.run(
        [*CDP, "dev", "--no-demo", "--free-ports", "--state-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "Pub/Sub emulator is missing" in result.stderr
    assert "Firestore emulator is missing" in result.stderr
    assert "pubsub-emulator" in result.stderr
