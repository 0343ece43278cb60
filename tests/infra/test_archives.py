"""The deployed layout imports and answers: each function's archive, unpacked alone in a
temporary folder, is served by functions-framework with nothing else on the path.

No emulator is configured, and outbound traffic is pointed at a dead proxy: an import or a
request that tried to reach a cloud would fail here instead of passing by luck.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.archives import Archive, build_archive
from shared.local.processes import ManagedProcess, free_port, wait_http
from shared.local.stack import serve_command
from shared.topology import TOPOLOGY, Function, Trigger

REPO = Path(__file__).resolve().parents[2]
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing answers


def unpack(archive: Archive, into: Path) -> Path:
    with zipfile.ZipFile(archive.path) as zf:
        zf.extractall(into)
    return into


def clean_env(source: Path, function: Function) -> dict[str, str]:
    """Only what a deployed instance would have: its source on the path and CDP_* settings
    (``CDP_FUNCTION`` names the function, as Pulumi sets it: destinations share one source)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(source),
        "PYTHONPATH": str(source),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CDP_PROJECT_ID": "cdp-archive-test",
        "CDP_ENVIRONMENT": "archive-test",
        "CDP_SOURCES": "[]",
        "CDP_FUNCTION": function.name,
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "NO_PROXY": "",
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    out = tmp_path_factory.mktemp("archives")
    return {f.name: build_archive(f.folder, out) for f in TOPOLOGY.functions}


def test_archive_holds_the_function_and_the_whole_shared_package(
    archives: dict[str, Archive],
) -> None:
    shipped = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "shared").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    for function in TOPOLOGY.functions:
        names = set(zipfile.ZipFile(archives[function.name].path).namelist())
        assert {"main.py", "requirements.txt"} <= names
        assert shipped <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        main = zipfile.ZipFile(archives[function.name].path).read("main.py")
        assert main == (REPO / "functions" / function.folder / "main.py").read_bytes()


def test_archive_is_deterministic(archives: dict[str, Archive], tmp_path: Path) -> None:
    for function in TOPOLOGY.functions:
        again = build_archive(function.folder, tmp_path)
        assert again.sha256 == archives[function.name].sha256
        assert again.path.read_bytes() == archives[function.name].path.read_bytes()


def test_a_changed_source_changes_the_object_name(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "functions" / "f").mkdir(parents=True)
    (repo / "shared").mkdir()
    (repo / "functions" / "f" / "main.py").write_text("x = 1\n")
    (repo / "functions" / "f" / "requirements.txt").write_text("\n")
    (repo / "shared" / "__init__.py").write_text("")
    before = build_archive("f", tmp_path / "out", repo)
    (repo / "shared" / "__init__.py").write_text("# changed\n")
    after = build_archive("f", tmp_path / "out", repo)
    assert before.object_name != after.object_name


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Function, str]]:
    function: Function = request.param
    source = unpack(build_archive(function.folder, tmp_path / "zip"), tmp_path / "src")
    env = clean_env(source, function)
    where = subprocess.run(
        [sys.executable, "-c", "import main, shared, sys; print(shared.__file__, main.__file__)"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    assert all(Path(p).is_relative_to(source) for p in where.stdout.split()), where.stdout
    port = free_port()
    process = ManagedProcess(
        f"archive {function.name}",
        serve_command(function, "main.py", port),
        tmp_path / "function.log",
        env=env,
        cwd=source,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, process, timeout=60)
        yield function, url
    finally:
        process.stop()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to it
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def push_body(events: list[object]) -> bytes:
    data = base64.b64encode(json.dumps({"events": events}).encode()).decode()
    return json.dumps(
        {
            "message": {"data": data, "attributes": {"kind": "events"}, "messageId": "m-1"},
            "subscription": "projects/cdp-archive-test/subscriptions/archive-test",
        }
    ).encode()


@pytest.mark.parametrize("served", TOPOLOGY.functions, ids=lambda f: f.name, indirect=True)
def test_the_unpacked_archive_serves_alone(served: tuple[Function, str]) -> None:
    function, url = served
    if function.trigger is Trigger.HTTP:
        status, body, content_type = post(url, b"{}", {"Content-Type": "application/json"})
        assert 400 <= status < 500, body
        assert "application/json" in content_type
        assert "message" in json.loads(body)
    else:
        status, body, _ = post(url, push_body([]), {"Content-Type": "application/json"})
        assert status == 200, body
