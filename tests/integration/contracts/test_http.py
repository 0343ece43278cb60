"""HttpSender contract: the httpx adapter against a local server, and the fake, answer alike:
any status comes back as an answer (deciding about 4xx/5xx is the caller's job); no answer at
all is BackendUnavailable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.adapters.http import HttpxSender
from shared.errors import BackendUnavailable
from shared.local.processes import free_port
from shared.ports.http import FakeHttpSender, HttpRequest, HttpResponse, HttpSender


class _StandIn(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/slow":
            time.sleep(2)
        status = 503 if self.path == "/down" else 200
        self.send_response(status)
        self.send_header("X-Echo-Auth", self.headers.get("Authorization", ""))
        self.end_headers()
        self.wfile.write(body[::-1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _StandIn)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _like_the_stand_in(request: HttpRequest) -> HttpResponse:
    if request.url.endswith(("/slow", ":1/refused")):
        raise BackendUnavailable("no answer")
    status = 503 if request.url.endswith("/down") else 200
    return HttpResponse(
        status, {"x-echo-auth": request.headers.get("Authorization", "")}, request.body[::-1]
    )


@pytest.fixture(params=["fake", "httpx"])
def sender(request: pytest.FixtureRequest) -> HttpSender:
    return FakeHttpSender(_like_the_stand_in) if request.param == "fake" else HttpxSender()


def test_any_status_is_an_answer(sender: HttpSender, server: str) -> None:
    ok = sender.send(HttpRequest("POST", f"{server}/ok", {"Authorization": "Bearer t"}, b"abc"))
    assert (ok.status, ok.body, ok.headers["x-echo-auth"]) == (200, b"cba", "Bearer t")
    assert sender.send(HttpRequest("POST", f"{server}/down", body=b"x")).status == 503


def test_no_answer_is_backend_unavailable(sender: HttpSender, server: str) -> None:
    with pytest.raises(BackendUnavailable):
        sender.send(HttpRequest("POST", f"{server}/slow", timeout_seconds=0.5))
    with pytest.raises(BackendUnavailable):
        sender.send(HttpRequest("POST", "http://127.0.0.1:1/refused"))
