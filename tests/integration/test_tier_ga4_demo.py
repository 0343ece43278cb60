"""Every event of the demo traffic, as the real Segment SDK sends it, maps to GA4 payloads the
GA4 stand-in accepts; and the cold ones take that path through the forwarder over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.adapters.http import HttpxSender
from shared.envelope import Envelope
from shared.local.demo import run_demo
from shared.local.ga4_standin import GA4StandIn
from shared.ports.clock import FakeClock, SystemClock
from shared.ports.documents import InMemoryDocumentStore
from shared.settings import Settings, Source
from shared.tiering.forwarder import Ga4Forwarder
from shared.tiering.ga4 import BACKDATE_WINDOW
from shared.tiering.router import TierRouter
from shared.tiering.rule import TierPolicy
from shared.tiering.state import PromotionState

KINDS = {"web": "web", "ios": "ios", "android": "android", "backend": "server",
         "customerio": "third_party"}  # fmt: skip
SOURCES = {f"{k}-key": Source(id=k, name=k, kind=v, write_key_sha256="-") for k, v in KINDS.items()}


def recent(event: dict[str, Any], now: datetime) -> bool:
    """Within GA4's backdating window (older events stay in the cold archive only)."""
    when = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
    return now - when <= BACKDATE_WINDOW


@pytest.fixture(scope="module")
def demo_requests() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(write key, body) of every request the SDK sent for the demo traffic."""
    captured: list[tuple[str, dict[str, Any]]] = []

    class Capture(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            import base64

            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization", "")[6:]
            key = base64.b64decode(auth).decode().split(":")[0] if auth else body["writeKey"]
            captured.append((key, body))
            answer = b'{"success": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = {
        "ingest_url": f"http://127.0.0.1:{server.server_address[1]}",
        "write_keys": {kind: f"{kind}-key" for kind in KINDS},
    }
    report = run_demo(stack, visitors=40, seed=7)
    server.shutdown()
    server.server_close()
    sent = sum(len(body.get("batch", [body])) for _, body in captured)
    assert report.errors == [] and sent == report.total > 0
    yield captured


@pytest.fixture
def standin() -> Iterator[GA4StandIn]:
    server = GA4StandIn()
    server.start()
    yield server
    server.stop()


def events_of(requests: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    now = SystemClock().now().isoformat()
    return [(key, {**e, "receivedAt": now}) for key, body in requests for e in body["batch"]]


def test_every_demo_event_maps_to_payloads_ga4_accepts(
    demo_requests: list[tuple[str, dict[str, Any]]], standin: GA4StandIn
) -> None:
    settings = Settings(ga4_measurement_id="G-DEMO", ga4_api_secret="s", ga4_endpoint=standin.url)
    forwarder = Ga4Forwarder(settings, HttpxSender(), SystemClock())
    events = [e for _, e in events_of(demo_requests)]
    result = forwarder.handle(Envelope("cold", events, {}))
    # GA4 needs a client id: user-only events (never cold anyway), identifies and aliases have
    # no GA4 form, and GA4 refuses events older than its backdating window.
    now = datetime.now(UTC)
    mappable = [
        e
        for e in events
        if e["type"] not in ("identify", "alias") and e.get("anonymousId") and recent(e, now)
    ]
    assert standin.rejected == []
    assert result.events == len(mappable) == len(standin.events()) > 0
    assert result.skipped == len(events) - len(mappable)
    names = {e["name"] for e in standin.events()}
    assert "page_view" in names


def test_the_cold_share_of_the_demo_reaches_ga4_through_the_router(
    demo_requests: list[tuple[str, dict[str, Any]]], standin: GA4StandIn
) -> None:
    settings = Settings(ga4_measurement_id="G-DEMO", ga4_api_secret="s", ga4_endpoint=standin.url)
    state = PromotionState(InMemoryDocumentStore(), FakeClock(datetime.now(UTC)))
    router = TierRouter(TierPolicy.from_settings(settings), state)
    forwarder = Ga4Forwarder(settings, HttpxSender(), SystemClock())
    cold: list[dict[str, Any]] = []
    for key, body in demo_requests:
        now = SystemClock().now().isoformat()
        split = router.split([{**e, "receivedAt": now} for e in body["batch"]], SOURCES[key])
        if split.cold:
            cold += split.cold
            forwarder.handle(Envelope("cold", split.cold, {}))
    assert cold and standin.rejected == []
    assert len(standin.events()) == len([e for e in cold if recent(e, datetime.now(UTC))])
    assert "page_view" in {e["name"] for e in standin.events()}
    assert not {e.get("event") for e in cold} & set(settings.tier_engagement_events)


def test_with_validation_on_every_demo_payload_passes_the_debug_endpoint_first(
    demo_requests: list[tuple[str, dict[str, Any]]], standin: GA4StandIn
) -> None:
    settings = Settings(
        ga4_measurement_id="G-DEMO", ga4_api_secret="s", ga4_endpoint=standin.url, ga4_validate=True
    )
    forwarder = Ga4Forwarder(settings, HttpxSender(), SystemClock())
    events = [e for _, e in events_of(demo_requests)]
    result = forwarder.handle(Envelope("cold", events, {}))
    assert result.refused == [] and standin.rejected == []
    assert result.events == len(standin.events()) > 0
