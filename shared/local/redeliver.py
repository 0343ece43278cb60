"""Local fault: every Pub/Sub push delivered twice and out of order (default off).

With ``CDP_LOCAL_FAULT_REDELIVER=1`` the local stack points each push subscription at this
proxy instead of the function. The proxy forwards each push to the function and answers with
the function's status (so Pub/Sub's own retries still apply), and delivers the same push a
second time after a random delay of up to ``CDP_LOCAL_FAULT_REDELIVER_MAX_DELAY`` seconds
(default 3), so copies arrive after later messages. Only ``cdp dev`` and tests use it; nothing
deployed does.
"""

from __future__ import annotations

import os
import random
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VARIABLE = "CDP_LOCAL_FAULT_REDELIVER"
DELAY_VARIABLE = "CDP_LOCAL_FAULT_REDELIVER_MAX_DELAY"


def enabled() -> bool:
    return os.environ.get(VARIABLE) == "1"


def forward(target: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(target.rstrip("/") + path, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 503  # the function is down: Pub/Sub retries


class Redeliverer:
    """One loopback proxy for all functions: ``/<function>/...`` goes to that function."""

    def __init__(self, targets: dict[str, str], max_delay: float | None = None) -> None:
        self.targets = targets
        self.max_delay = (
            float(os.environ.get(DELAY_VARIABLE, "3")) if max_delay is None else max_delay
        )
        self.active = True  # off: a plain pass-through
        self.copies = 0  # second deliveries sent
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> dict[str, str]:
        """Start; the push endpoint to use for each function."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        return {name: f"http://127.0.0.1:{port}/{name}/" for name in self.targets}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def deliver(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        name, _, rest = path.lstrip("/").partition("/")
        target = self.targets.get(name)
        if target is None:
            return 404
        status = forward(target, "/" + rest, body, headers)
        if status < 300 and self.active:
            delay = random.uniform(0.0, self.max_delay)
            timer = threading.Timer(delay, self._again, (target, "/" + rest, body, headers))
            timer.daemon = True
            timer.start()
        return status

    def _again(self, target: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        forward(target, path, body, headers)
        with self._lock:
            self.copies += 1


def _handler(proxy: Redeliverer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {"Content-Type": self.headers.get("Content-Type") or "application/json"}
            status = proxy.deliver(self.path, body, headers)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
