"""A local stand-in for a Slack incoming webhook (``POST /services/T…/B…/…``).

It checks each message as Slack's incoming-webhook and Block Kit documentation describe it,
independently of the sender, and answers Slack's text error bodies:

- the path is the webhook's own (its secret): else 404 ``no_service``; POST only;
- ``Content-Type: application/json`` and a JSON object: else 400 ``invalid_payload``;
- ``text`` a non-empty string unless ``blocks`` carry the message: else 400 ``no_text``;
  at most 40,000 characters (Slack truncates beyond; refused here so the sender's mistake
  shows): else 400 ``msg_too_long``;
- ``blocks`` a list of at most 50 objects with a ``type``; a section's text object is ``mrkdwn``
  or ``plain_text`` with 1 to 3,000 characters: else 400 ``invalid_blocks``.

A message it accepts answers 200 ``ok`` as text, like Slack. Slack has no dedup key: the
delivered event's ``key`` is the sender's ``X-CDP-Message-Id`` (else the body's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from shared.local.standins.base import Reply, StandIn

PATH = "/services/T0000LOCAL/B0000LOCAL/local0webhook0secret000"
ID_HEADER = "x-cdp-message-id"

NO_SERVICE = "no_service"
INVALID_PAYLOAD = "invalid_payload"
NO_TEXT = "no_text"
MSG_TOO_LONG = "msg_too_long"
INVALID_BLOCKS = "invalid_blocks"
NOT_POST = "incoming webhooks take POST only"

MAX_TEXT, MAX_BLOCKS, MAX_SECTION = 40_000, 50, 3_000
TEXT_TYPES = ("mrkdwn", "plain_text")


class SlackStandIn(StandIn):
    name = "slack"

    def __init__(self, path: str = PATH, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.path = path

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path.split("?")[0] != self.path:
            return Reply(404, NO_SERVICE, reason=NO_SERVICE)
        if method != "POST":
            return Reply(405, "", reason=NOT_POST)
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return Reply(400, INVALID_PAYLOAD, reason=f"{INVALID_PAYLOAD}: not application/json")
        try:
            payload = json.loads(body)
        except ValueError:
            return Reply(400, INVALID_PAYLOAD, reason=f"{INVALID_PAYLOAD}: not JSON")
        if not isinstance(payload, dict):
            return Reply(400, INVALID_PAYLOAD, reason=f"{INVALID_PAYLOAD}: not an object")
        problem = message_problem(payload)
        if problem:
            return Reply(400, problem, reason=problem)
        key = headers.get(ID_HEADER) or hashlib.sha256(body).hexdigest()
        return Reply(200, "ok", delivered=({"key": key, "text": payload.get("text", "")},))

    def texts(self) -> list[str]:
        with self._lock:
            return [str(e["text"]) for e in self.delivered]


def message_problem(payload: dict[str, Any]) -> str:
    """Slack's error word for a message object ("" when Slack would post it)."""
    text, blocks = payload.get("text"), payload.get("blocks")
    if text is not None and not isinstance(text, str):
        return INVALID_PAYLOAD
    if blocks is not None:
        problem = blocks_problem(blocks)
        if problem:
            return problem
    if not blocks and not (text or "").strip():
        return NO_TEXT
    if text and len(text) > MAX_TEXT:
        return MSG_TOO_LONG
    return ""


def blocks_problem(blocks: Any) -> str:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return INVALID_BLOCKS
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return INVALID_BLOCKS
        if block["type"] == "section":
            inner = block.get("text")
            if not isinstance(inner, dict) or inner.get("type") not in TEXT_TYPES:
                return INVALID_BLOCKS
            value = inner.get("text")
            if not isinstance(value, str) or not 0 < len(value) <= MAX_SECTION:
                return INVALID_BLOCKS
    return ""


LOCAL_TEMPLATES: dict[str, Any] = {
    "subscription_cancelled": "{traits.first_name} ({userId}) cancelled their subscription",
    "churn_risk": {  # the churn-risk alert: high-value members entering the audience only
        "text": ":warning: Churn risk: {userId} ({properties.audience_name}), "
        "{properties.transaction_volume_30d} in the last 30 days",
        "when": {"event": "Audience Entered", "properties.high_value": True},
    },
}  # what the local stack's demo sends shows in the stand-in


def function_environment(url: str) -> dict[str, str]:
    """What the platform's functions need to send ``slack`` messages here (the webhook URL is
    the credential; templates so the demo's events have messages)."""
    return {
        "CDP_SLACK_WEBHOOK_URL": f"{url}{PATH}",
        "CDP_SLACK_TEMPLATES": json.dumps(LOCAL_TEMPLATES),
    }
