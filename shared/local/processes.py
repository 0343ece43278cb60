"""Child processes in their own process groups, so stopping one stops everything it spawned
(emulator wrappers start a JVM that would otherwise outlive them)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from shared.errors import SetupError

T = TypeVar("T")
# How the JVM emulators, uvicorn and gunicorn say that a port was taken.
PORT_TAKEN_MARKS = ("already in use", "connection in use")


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (the Google clients read emulator hosts
    from the environment when they are created)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def on_free_ports(start: Callable[[], T], attempts: int = 3) -> T:
    """Run ``start`` (which picks free ports and starts servers on them) again when another
    process took a port between the pick and the bind."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except SetupError as error:
            said = str(error).lower()
            if attempt == attempts or not any(m in said for m in PORT_TAKEN_MARKS):
                raise
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each is held until all are picked, so none repeats (one
    ``free_port()`` after another may hand out a port again once it is released)."""
    with contextlib.ExitStack() as held:
        picked = []
        for _ in range(count):
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            picked.append(int(s.getsockname()[1]))
        return picked


def port_is_free(port: int) -> bool:
    """Nothing listens there (connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's life
        self.process = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # its own process group
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_seconds: float = 5.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left."""
        pgid = self.process.pid
        for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait
            while self.process.poll() is None or _group_alive(pgid):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self._log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _group_alive(pgid: int) -> bool:
    """True while any process of the group exists (the caller reaps the leader first)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_http(url: str, process: ManagedProcess, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers any HTTP status; fail early, with its log, if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise SetupError(f"{process.name} exited early:\n{process.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SetupError(
        f"{process.name} did not answer at {url} within {timeout:.0f}s:\n{process.tail()}"
    )
