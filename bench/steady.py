"""A steady, bounded loopback load for ``bench.latency`` and ``bench.soak``: identified engaged
web events at a set rate, each with a unique messageId and, as its timestamp, the moment its
request was sent.

Events are built per request from a slot number (so every messageId is unique and known to the
caller), a third of them identifies carrying a ``latency_probe`` trait (the profile then shows
which identify it last applied), the rest ``card_activated`` tracks (engaged whatever the state),
spread over a pool of users so one person rarely repeats within a request.

``drive`` paces requests: request k is due at start + k * batch / rate; ``workers`` threads,
each with its own keep-alive connection, take the next due slot. When ingest answers slower than
the pace, requests go out late, and none is sent once ``seconds`` have passed, so the achieved
rate (accepted events / ``seconds``) falls below the target; nothing queues without bound.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
CLIENT_TIMEOUT_SECONDS = 30.0
PROBE_TRAIT = "latency_probe"
# A connection the server closed while idle: nothing was answered, so the request is resent.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Load:
    """What a run sends: ids ``<run>-<n>``, users ``<people>-u<n % users>`` (``people``
    defaults to ``run``; runs that share it send for the same people)."""

    run: str
    users: int = 500
    batch: int = 10
    people: str = ""

    def message_id(self, n: int) -> str:
        return f"{self.run}-{n}"

    def user(self, n: int) -> str:
        return f"{self.people or self.run}-u{n % self.users}"

    def event(self, n: int, at: datetime) -> Event:
        user, mid = self.user(n), self.message_id(n)
        common: Event = {
            "messageId": mid,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "userId": user,
            "anonymousId": f"{user}-laptop",
            "context": {
                "userAgent": UA,
                "ip": "203.0.113.9",
                "page": {"url": "https://app.example.com/cards"},
            },
        }
        if self.kind(n) == "identify":
            return {**common, "type": "identify", "traits": {PROBE_TRAIT: mid, "plan": "free"}}
        return {**common, "type": "track", "event": "card_activated", "properties": {"n": n}}

    def kind(self, n: int) -> str:
        return "identify" if n % 3 == 0 else "track"

    def request(self, slot: int, at: datetime) -> tuple[list[str], bytes]:
        first = slot * self.batch
        events = [self.event(n, at) for n in range(first, first + self.batch)]
        return [e["messageId"] for e in events], json.dumps({"batch": events}).encode()


@dataclass(frozen=True)
class Sent:
    slot: int
    wall: float  # time.time() just before the request went out
    status: int  # 0: no answer (refused, timed out)
    seconds: float
    ids: tuple[str, ...]


class _Client:
    """One keep-alive connection to ingest, reopened after any failure."""

    def __init__(self, url: str, write_key: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        auth = base64.b64encode(f"{write_key}:".encode()).decode()
        self.headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> int:
        """The status, 0 for no answer. A kept-alive connection the server closed while idle
        (gunicorn keeps one 2 s) fails before any answer: that one is retried on a new one."""
        reused = self.conn is not None
        try:
            return self._post(path, body)
        except STALE:
            self.close()
            if not reused:
                return 0
        try:
            return self._post(path, body)
        except STALE:
            self.close()
            return 0

    def _post(self, path: str, body: bytes) -> int:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=CLIENT_TIMEOUT_SECONDS
                )
            self.conn.request("POST", path, body, self.headers)
            answer = self.conn.getresponse()
            answer.read()
            if answer.getheader("Connection", "").lower() == "close":
                self.close()
            return answer.status
        except STALE:
            raise
        except (OSError, http.client.HTTPException):  # refused, timed out
            self.close()
            return 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def drive(
    url: str,
    write_key: str,
    load: Load,
    rate: float,
    seconds: float,
    workers: int = 8,
    record: Callable[[Sent], None] = lambda sent: None,
) -> list[Sent]:
    """Send ``load`` at ``rate`` events/s for ``seconds``; every request's outcome, in the
    order answered (also handed to ``record`` as it comes)."""
    interval = load.batch / rate
    started = time.monotonic()
    end = started + seconds
    slots = itertools.count()
    lock = threading.Lock()
    done: list[Sent] = []

    def work() -> None:
        client = _Client(url, write_key)
        try:
            while True:
                with lock:
                    slot = next(slots)
                due = started + slot * interval
                if due >= end or time.monotonic() >= end:  # a late slot is dropped, not sent
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                wall, began = time.time(), time.perf_counter()
                ids, body = load.request(slot, datetime.fromtimestamp(wall, UTC))
                status = client.post("/v1/batch", body)
                sent = Sent(slot, wall, status, time.perf_counter() - began, tuple(ids))
                with lock:
                    done.append(sent)
                record(sent)
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + CLIENT_TIMEOUT_SECONDS + 5)
    return done
