"""What every provider stand-in shares: an HTTP server on loopback that checks each request
with the provider's rules (``check``), keeps what it accepted and refused, and fails on
purpose when told to.

Each provider module subclasses ``StandIn`` with ``check(method, path, headers, body)``
returning a ``Reply``: the status and body the real API would answer, and the events the
request delivered (as ``{"key": <the provider's dedup key>, ...}``), which tests count.

Faults, set in process (``fail``) or over HTTP (``POST /_standin/faults`` with the same JSON),
apply to requests that pass the checks, in order:

    {"status": 500, "times": 3}                  the next 3 answers are 500
    {"status": 503, "seconds": 120}              every answer is 503 for two minutes
    {"status": 429, "times": 1, "retry_after": 2}  with Retry-After: 2
    {"delay": 15, "times": 1}                    answer after 15 s (the client times out)
    {"status": 400, "times": 1, "body": {...}}   a provider error naming some events

``GET /_standin`` lists accepted requests, delivered events and refusals; ``DELETE /_standin``
clears them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTROL = "/_standin"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON-able, or bytes/str sent as they are (Slack answers text)
    delivered: tuple[dict[str, Any], ...] = ()  # what reached the provider (each with "key")
    reason: str = ""  # why refused, for the listing
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    status: int = 500
    times: int | None = 1
    until: float | None = None  # monotonic deadline
    retry_after: float | None = None
    delay: float = 0.0
    body: Any = None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Fault:
        seconds = spec.get("seconds")
        slow_only = "delay" in spec and "status" not in spec  # processed, answered late
        return cls(
            status=int(spec.get("status", 200 if slow_only else 500)),
            times=None if seconds is not None else int(spec.get("times", 1)),
            until=time.monotonic() + float(seconds) if seconds is not None else None,
            retry_after=spec.get("retry_after"),
            delay=float(spec.get("delay", 0.0)),
            body=spec.get("body"),
        )

    def live(self) -> bool:
        if self.until is not None:
            return time.monotonic() < self.until
        return bool(self.times)


class StandIn:
    name = "standin"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.accepted: list[dict[str, Any]] = []  # {"path", "headers", "body"}
        self.delivered: list[dict[str, Any]] = []  # events, redeliveries included
        self.refused: list[dict[str, Any]] = []  # {"status", "reason", "path", "body"}
        self.failed_on_purpose = 0
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # To override.

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    # Running.

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> str:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail(self, **spec: Any) -> None:
        with self._lock:
            self._faults.append(Fault.of(spec))

    def clear(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.delivered.clear()
            self.refused.clear()
            self._faults.clear()
            self.failed_on_purpose = 0

    def keys(self) -> list[str]:
        """The dedup key of every delivered event, redeliveries included."""
        with self._lock:
            return [str(e.get("key")) for e in self.delivered]

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "accepted": list(self.accepted),
                "delivered": list(self.delivered),
                "refused": list(self.refused),
                "failed_on_purpose": self.failed_on_purpose,
            }

    def receive(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Reply, float]:
        """The reply to one request and how long to wait before sending it."""
        reply = self.check(method, path, headers, body)
        text = body.decode(errors="replace")
        with self._lock:
            if reply.status >= 300:
                self.refused.append(
                    {"status": reply.status, "reason": reply.reason, "path": path, "body": text}
                )
                return reply, 0.0
            self._faults = [f for f in self._faults if f.live()]
            if self._faults:
                fault = self._faults[0]
                if fault.times is not None:
                    fault.times -= 1
                self.failed_on_purpose += 1
                if fault.status < 300:  # slow but processed: the client may time out
                    self.accepted.append({"path": path, "headers": dict(headers), "body": text})
                    self.delivered += list(reply.delivered)
                    return reply, fault.delay
                headers_out = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                body_out = fault.body if fault.body is not None else {"error": "fault injected"}
                return Reply(fault.status, body_out, headers=headers_out), fault.delay
            self.accepted.append({"path": path, "headers": dict(headers), "body": text})
            self.delivered += list(reply.delivered)
            return reply, 0.0


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once on keep-alive

        def log_message(self, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self, method: str) -> None:
            body = self._body()
            path = self.path
            if path.split("?")[0] in (CONTROL, f"{CONTROL}/faults"):
                self._control(method, body)
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply, wait = standin.receive(method, path, headers, body)
            if wait:
                time.sleep(wait)
            self._answer(reply.status, reply.body, reply.headers)

        def _control(self, method: str, body: bytes) -> None:
            if method == "GET":
                self._answer(200, standin.listing())
            elif method == "DELETE":
                standin.clear()
                self._answer(200, {"ok": True})
            else:
                standin.fail(**json.loads(body or b"{}"))
                self._answer(200, {"ok": True})

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _answer(self, status: int, data: Any, headers: Mapping[str, str] = {}) -> None:
            if isinstance(data, bytes | str):
                raw = data.encode() if isinstance(data, str) else data
                kind = "text/html"
            else:
                raw, kind = json.dumps(data).encode(), "application/json"
            given = {name.lower() for name in headers}
            self.send_response(status)
            if "content-type" not in given:  # a stand-in may answer as its provider does
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler
