"""The tracking endpoint as SDKs see it: paths, auth, bodies, answers and what gets published."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.unit.ingest.conftest import Ingest, basic, fixture

ACCEPTED = b'{"success": true}'
CALLS = {
    "track": {"event": "kyc_started", "userId": "u1"},
    "identify": {"userId": "u1", "traits": {"plan": "free"}},
    "page": {"anonymousId": "a1", "name": "Pricing"},
    "screen": {"userId": "u1", "name": "Dashboard"},
    "group": {"userId": "u1", "groupId": "g1"},
    "alias": {"userId": "u1", "previousId": "a1"},
}


@pytest.mark.parametrize("path", [*CALLS, "t", "i", "p", "s", "g", "a"])
def test_every_call_path_and_short_form_publishes_its_type(ingest: Ingest, path: str) -> None:
    kind = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group"}.get(
        path, "alias" if path == "a" else path
    )
    answer = ingest.post(f"/v1/{path}", CALLS[kind])
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    [event] = ingest.events()
    assert event["type"] == kind
    assert event["sourceId"] == "web"
    assert event["messageId"].startswith("cdp-")


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b", "/v1/import"])
def test_batch_paths_merge_batch_level_context_and_integrations(ingest: Ingest, path: str) -> None:
    answer = ingest.post(path, fixture("server_batch.json"), key="k-backend")
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    events = ingest.events()
    assert [e["messageId"] for e in events] == ["py-1", "py-2", "py-3"]
    assert events[1]["context"] == {
        "library": {"name": "analytics-python", "version": "2.4.0"},
        "ip": "203.0.113.9",  # the event's own value wins
    }
    assert all(e["integrations"] == {"Amplitude": False} for e in events)
    assert events[2]["context"]["traits"] == {"email": "grace@example.com"}
    assert len(ingest.publisher.messages) == 1  # one Pub/Sub message per request


def test_browser_text_plain_with_write_key_in_body(ingest: Ingest) -> None:
    body = {**fixture("browser_track.json"), "writeKey": "k-web"}
    answer = ingest.post("/v1/t", body, key=None, content_type="text/plain")
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    [event] = ingest.events()
    assert "writeKey" not in event  # the key never travels downstream
    assert event["properties"] == body["properties"]
    assert event["_metadata"] == body["_metadata"]
    # sent 1 s after it happened, received at noon: timestamp = noon - 1 s
    assert event["timestamp"] == "2026-01-01T11:59:59.000Z"
    assert event["receivedAt"] == "2026-01-01T12:00:00.000Z"


def test_gzip_under_a_form_content_type(ingest: Ingest) -> None:
    data = gzip.compress(json.dumps(fixture("server_batch.json")).encode())
    answer = ingest.post(
        "/v1/batch",
        data,
        key="k-backend",
        content_type="application/x-www-form-urlencoded",
        headers={"Content-Encoding": "gzip"},
    )
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    assert len(ingest.events()) == 3


def test_cors_preflight_and_cors_on_answers(ingest: Ingest) -> None:
    preflight = ingest.client.options("/v1/t", headers={"Origin": "https://app.example.com"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Encoding" in preflight.headers["Access-Control-Allow-Headers"]
    answer = ingest.post("/v1/track", CALLS["track"])
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD"])
@pytest.mark.parametrize(
    "path", ["/v1/track", "/v1/t", "/v1/batch", "/v1/webhooks/customerio", "/v2/track"]
)
def test_only_post_reaches_the_handler(ingest: Ingest, method: str, path: str) -> None:
    body = json.dumps({"batch": [CALLS["track"]], **CALLS["track"]}).encode()
    answer = ingest.client.open(
        path, method=method, data=body, headers=basic("k-web"), content_type="application/json"
    )
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST, OPTIONS"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    if method != "HEAD":  # a HEAD answer has no body
        assert answer.get_json() == {
            "success": False,
            "message": f"Method {method} not allowed: send events with POST.",
        }
    assert ingest.publisher.messages == []


@pytest.mark.parametrize(
    ("key", "status", "needle"),
    [
        (None, 401, "Missing write key"),
        ("nope", 401, "Unknown write key"),
        ("k-old", 403, "disabled"),
    ],
)
def test_auth_failures(ingest: Ingest, key: str | None, status: int, needle: str) -> None:
    answer = ingest.post("/v1/track", CALLS["track"], key=key)
    assert answer.status_code == status
    assert needle in answer.get_json()["message"]
    assert ingest.publisher.messages == []


def test_unknown_path_is_404(ingest: Ingest) -> None:
    assert ingest.post("/v2/track", CALLS["track"]).status_code == 404


def test_invalid_events_go_to_failed_events_and_the_rest_is_kept(ingest: Ingest) -> None:
    batch = {
        "batch": [
            {"type": "track", "event": "ok", "userId": "u1", "messageId": "good"},
            {"type": "track", "event": "no_id", "messageId": "bad-1"},
            {"type": "launch", "userId": "u1", "messageId": "bad-2"},
            {"type": "identify", "userId": {"nested": 1}, "messageId": "bad-3"},
        ]
    }
    answer = ingest.post("/v1/batch", batch)
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    assert [e["messageId"] for e in ingest.events()] == ["good"]
    failures = {f["messageId"]: f for f in ingest.failures()}
    assert set(failures) == {"bad-1", "bad-2", "bad-3"}
    assert "neither userId nor anonymousId" in failures["bad-1"]["reason"]
    assert "Unknown event type 'launch'" in failures["bad-2"]["reason"]
    assert failures["bad-3"]["reason"].startswith("userId")
    assert json.loads(failures["bad-1"]["payload"])["event"] == "no_id"


def test_a_retried_request_is_accepted_and_publishes_nothing_new(ingest: Ingest) -> None:
    body = fixture("server_batch.json")
    assert ingest.post("/v1/batch", body, key="k-backend").data == ACCEPTED
    ingest.clock.advance(23 * 3600)
    assert ingest.post("/v1/batch", body, key="k-backend").data == ACCEPTED
    assert len(ingest.events()) == 3
    assert len(ingest.publisher.messages) == 1


def test_a_failed_publish_answers_503_and_the_retry_goes_through(ingest: Ingest) -> None:
    """Nothing was accepted, so the SDK must send the batch again: a JSON 503 that says so,
    with Retry-After (it was a crash page's 500)."""
    body = fixture("server_batch.json")
    ingest.publisher.fail_next = 1
    refused = ingest.post("/v1/batch", body, key="k-backend")
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "5")
    assert refused.get_json()["success"] is False
    assert "retry later" in refused.get_json()["message"]
    assert ingest.events() == []
    assert ingest.post("/v1/batch", body, key="k-backend").data == ACCEPTED
    assert len(ingest.events()) == 3


def test_rate_limit_answers_429_with_retry_after_per_source(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_INGEST_SOURCE_RATES", json.dumps({"web": [1, 2]}))
    from shared.bootstrap import services

    services().__dict__.pop("ingest", None)  # rebuilt with the new settings
    assert ingest.post("/v1/track", CALLS["track"]).status_code == 200
    assert ingest.post("/v1/track", CALLS["track"]).status_code == 200
    limited = ingest.post("/v1/track", CALLS["track"])
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    other = ingest.post("/v1/track", CALLS["track"], key="k-backend")
    assert other.status_code == 200  # another source is not held back
    ingest.clock.advance(1)
    assert ingest.post("/v1/track", CALLS["track"]).status_code == 200


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("customerio_delivered.json", "Email Delivered"),
        ("customerio_opened.json", "Email Opened"),
        ("customerio_clicked.json", "Email Link Clicked"),
    ],
)
def test_customerio_webhook_becomes_a_track_event(ingest: Ingest, name: str, event: str) -> None:
    payload = fixture(name)
    answer = ingest.post(
        "/v1/webhooks/customerio", payload, key=None, query_string={"writeKey": "k-cio"}
    )
    assert (answer.status_code, answer.data) == (200, ACCEPTED)
    [track] = ingest.events()
    assert (track["type"], track["event"], track["userId"]) == ("track", event, "user-42")
    assert track["messageId"] == f"customerio-{payload['event_id']}"
    assert track["sourceId"] == "customerio"
    assert track["properties"]["email_subject"] == "Link your bank in two minutes"
    assert track["context"]["traits"]["email"] == "ada@example.com"
    assert (
        track["timestamp"]
        == "2026-01-01T"
        + {
            "Email Delivered": "12:00:00.000Z",
            "Email Opened": "12:01:00.000Z",
            "Email Link Clicked": "12:02:00.000Z",
        }[event]
    )


def test_customerio_unknown_metric_is_a_failed_event(ingest: Ingest) -> None:
    payload = {**fixture("customerio_opened.json"), "metric": "teleported"}
    answer = ingest.post("/v1/webhooks/customerio", payload, key="k-cio")
    assert answer.status_code == 200
    assert ingest.events() == []
    [failure] = ingest.failures()
    assert "teleported" in failure["reason"]


def test_nul_and_lone_surrogate_escapes_are_scrubbed(ingest: Ingest) -> None:
    properties = {"nul": "a\x00b", "lone": "\ud800x", "ok": 'é"q'}  # sent as \u escapes
    event = {"type": "track", "event": "e", "userId": "u", "properties": properties}
    assert ingest.post("/v1/batch", {"batch": [event]}).data == ACCEPTED
    [stored] = ingest.events()
    assert stored["properties"] == {"nul": "ab", "lone": "\ufffdx", "ok": 'é"q'}
