"""A local stand-in for a customer's endpoint of the generic webhook destination.

It checks each request against the contract a receiver is promised (``docs/tiers.md``, the
docstring of ``shared.destinations.webhook``), written again here rather than imported, so a
mistake in the sender cannot hide behind the same mistake in the check:

- ``X-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the exact body with the shared secret
  (401 when missing or wrong);
- ``Content-Type: application/json``; the body an object with a non-empty ``batch`` of Segment
  events (each with ``type``, ``messageId`` and ``userId`` or ``anonymousId``), ``sentAt`` an
  ISO-8601 string and, for a back-fill, ``backfill.anonymousId`` naming the events' id (400).

It keeps what it accepted and what it refused, with the reason, for tests (``accepted``,
``rejected``, ``events()``, ``backfills()``) and over HTTP (``GET`` on any path). A test can make
it answer an error to the next matching requests (``fail_next``) to see the sender retry.

    python -m shared.local.webhook_standin --port 8598 --secret local-secret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/webhook"
SIGNATURE = "x-signature-256"
CALL_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})

NO_SIGNATURE = "X-Signature-256 is missing"
BAD_SIGNATURE = "X-Signature-256 is not the HMAC-SHA256 of the body"
NOT_JSON_TYPE = "Content-Type is not application/json"
NOT_JSON = "the body is not JSON"
NOT_OBJECT = "the body is not a JSON object"
NO_BATCH = "batch is not a non-empty list"
NO_SENT_AT = "sentAt is not an ISO-8601 string"
BAD_EVENT = "batch[{i}]: {problem}"
BAD_BACKFILL = "backfill is not an object with an anonymousId and a userId (string or null)"
FOREIGN_EVENT = "batch[{i}]: anonymousId is not the back-filled id"

Payload = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    status: int  # 200 accepted, 401 unsigned, 400 malformed
    reason: str = ""
    payload: Payload | None = None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check(headers: Mapping[str, str], body: bytes, secret: str) -> Verdict:
    """What the receiver answers to one POST (``headers`` with lower-case names). An empty
    ``secret`` stands for a destination configured without one: nothing to verify."""
    given = headers.get(SIGNATURE, "")
    if secret and not given:
        return Verdict(401, NO_SIGNATURE)
    if secret and not hmac.compare_digest(given, sign(secret, body)):
        return Verdict(401, BAD_SIGNATURE)
    if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return Verdict(400, NOT_JSON_TYPE)
    try:
        payload = json.loads(body)
    except ValueError:
        return Verdict(400, NOT_JSON)
    if not isinstance(payload, dict):
        return Verdict(400, NOT_OBJECT)
    problems = [p for rule in RULES for p in rule(payload)]
    return Verdict(400, "; ".join(problems)) if problems else Verdict(200, payload=payload)


def _batch(payload: Payload) -> list[str]:
    batch = payload.get("batch")
    if not isinstance(batch, list) or not batch:
        return [NO_BATCH]
    return [BAD_EVENT.format(i=i, problem=p) for i, e in enumerate(batch) for p in _event(e)]


def _event(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["not an object"]
    found = []
    if event.get("type") not in CALL_TYPES:
        found.append(f"type is not one of {', '.join(sorted(CALL_TYPES))}")
    if not _is_id(event.get("messageId")):
        found.append("messageId is missing")
    if not (_is_id(event.get("userId")) or _is_id(event.get("anonymousId"))):
        found.append("neither userId nor anonymousId")
    return found


def _sent_at(payload: Payload) -> list[str]:
    sent_at = payload.get("sentAt")
    if not isinstance(sent_at, str):
        return [NO_SENT_AT]
    try:
        datetime.fromisoformat(sent_at)
    except ValueError:
        return [NO_SENT_AT]
    return []


def _backfill(payload: Payload) -> list[str]:
    if "backfill" not in payload:
        return []
    backfill = payload["backfill"]
    if not isinstance(backfill, dict) or not _is_id(backfill.get("anonymousId")):
        return [BAD_BACKFILL]
    user = backfill.get("userId", False)
    if user is not None and not _is_id(user):
        return [BAD_BACKFILL]
    batch = payload.get("batch")
    return [
        FOREIGN_EVENT.format(i=i)
        for i, event in enumerate(batch if isinstance(batch, list) else [])
        if isinstance(event, dict) and event.get("anonymousId") != backfill["anonymousId"]
    ]


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


RULES: list[Callable[[Payload], list[str]]] = [_batch, _sent_at, _backfill]


@dataclass
class WebhookStandIn:
    host: str = "127.0.0.1"
    port: int = 0
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    accepted: list[Payload] = field(default_factory=list)  # valid request bodies, as received
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"status", "reason", "body"}
    failed_on_purpose: list[Payload] = field(default_factory=list)  # see fail_next
    _planned: list[tuple[int, str]] = field(default_factory=list)  # (status, matching)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the webhook stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}{PATH}"

    def start(self) -> str:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, times: int = 1, status: int = 503, matching: str = "") -> None:
        """Answer ``status`` to the next ``times`` valid requests whose body contains
        ``matching`` (all of them when empty), instead of accepting them."""
        with self._lock:
            self._planned += [(status, matching)] * times

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """Check one POST, keep it where it belongs and return the status to answer."""
        verdict = check(headers, body, self.secret)
        text = body.decode(errors="replace")
        with self._lock:
            if verdict.payload is None:
                self.rejected.append({"status": verdict.status, "reason": verdict.reason,
                                      "body": text})  # fmt: skip
                return verdict.status
            for n, (status, matching) in enumerate(self._planned):
                if matching in text:
                    del self._planned[n]
                    self.failed_on_purpose.append(verdict.payload)
                    return status
            self.accepted.append(verdict.payload)
            return 200

    def listing(self) -> dict[str, list[Any]]:
        with self._lock:
            return {"accepted": list(self.accepted), "rejected": list(self.rejected)}

    def events(self) -> list[Payload]:
        """Every event of the accepted live (not back-fill) requests, redeliveries included."""
        return [e for body in self.listing()["accepted"] if "backfill" not in body
                for e in body["batch"]]  # fmt: skip

    def backfills(self, anonymous_id: str | None = None) -> list[Payload]:
        """The accepted back-fill requests (of one anonymous id), redeliveries included."""
        return [body for body in self.listing()["accepted"] if "backfill" in body
                and anonymous_id in (None, body["backfill"]["anonymousId"])]  # fmt: skip

    def message_ids(self) -> set[str]:
        """The distinct ``messageId`` of every accepted event, live or back-filled."""
        return {str(e["messageId"]) for body in self.listing()["accepted"] for e in body["batch"]}


def _handler(standin: WebhookStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._answer(200, standin.listing())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?")[0] != PATH:
                self._answer(404, {"error": f"POST to {PATH}"})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = standin.receive(headers, body)
            self._answer(status, {"ok": status == 200})

        def _answer(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def function_environment(url: str, secret: str) -> dict[str, str]:
    """What the platform's functions need in their environment to deliver here, back-fills
    included (the local stack adds it to every function's environment; settings already set
    win)."""
    return {"CDP_WEBHOOK_URL": url, "CDP_WEBHOOK_SECRET": secret, "CDP_WEBHOOK_BACKFILL": "true"}


def main() -> None:
    parser = argparse.ArgumentParser(description="Generic webhook receiver stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8598)
    parser.add_argument("--secret", default="local-secret")
    args = parser.parse_args()
    standin = WebhookStandIn(args.host, args.port, args.secret)
    print(f"webhook stand-in at {standin.start()} (secret {args.secret})", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
