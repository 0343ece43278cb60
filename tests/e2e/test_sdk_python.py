"""Real Python SDKs (segment-analytics-python, rudder-sdk-python) pointed at the local ingest
by changing only the host: every call type arrives on the ``events`` topic exactly once, with
its fields intact."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sdk.tap import assert_six_calls_exactly_once, tagged, tap


def send_six_calls(client: Any, tag: str) -> None:
    """The same six calls the JavaScript scripts send (tests/e2e/sdk/calls.js)."""
    user, anon = f"{tag}-user", f"{tag}-anon"
    properties = {
        "amount": 125.5,
        "type": "deposit",
        "method": "ach",
        "platform": "server",
        "note": "Überweisung ✓ 送金",
        "nested": {"a": [1, 2, {"b": None}]},
    }
    client.identify(user, {"email": f"{tag}@example.com", "plan": "free"}, anonymous_id=anon)
    client.track(user, "transaction_initiated", properties, anonymous_id=anon)
    client.page(user, "Marketing", "Pricing", {"path": "/pricing"}, anonymous_id=anon)
    client.screen(user, None, "Dashboard", {"tab": "home"}, anonymous_id=anon)
    client.group(user, f"{tag}-household", {"name": "Household"}, anonymous_id=anon)
    client.alias(anon, user)


def test_segment_analytics_python(stack_env: dict[str, Any]) -> None:
    from segment.analytics import Client

    tag = f"segpy-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []
    with tap(stack_env["project_id"]) as events:
        client = Client(
            write_key=stack_env["write_keys"]["backend"],
            host=stack_env["ingest_url"],
            on_error=lambda error, _batch: errors.append(str(error)),
            upload_size=4,  # two requests: batching, and the batch-level context merge
        )
        send_six_calls(client, tag)
        client.flush()
        client.shutdown()
        arrived = events.collect(tagged(tag), expected=6)
    assert errors == []
    by_type = assert_six_calls_exactly_once(arrived, tag)
    assert by_type["track"]["context"]["library"]["name"] == "analytics-python"
    assert by_type["track"]["sourceId"] == "backend"


def test_rudder_sdk_python_gzip(stack_env: dict[str, Any]) -> None:
    from rudderstack.analytics import Client

    tag = f"rudpy-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []
    with tap(stack_env["project_id"]) as events:
        client = Client(
            write_key=stack_env["write_keys"]["backend"],
            host=stack_env["ingest_url"],
            on_error=lambda error, _batch: errors.append(str(error)),
            gzip=True,
        )
        send_six_calls(client, tag)
        client.flush()
        client.shutdown()
        arrived = events.collect(tagged(tag), expected=6)
    assert errors == []
    by_type = assert_six_calls_exactly_once(arrived, tag)
    assert by_type["track"]["context"]["library"]["name"] == "analytics-python"
