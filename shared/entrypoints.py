"""The edge: turning handler outcomes into HTTP answers and Pub/Sub acks.

HTTP: a ``RequestError`` becomes its status with a JSON message; a ``RetryableError`` (Pub/Sub or
Firestore not answering) a 503 with ``Retry-After``, so SDKs send the batch again; anything else
is a 500.
Pub/Sub: returning acknowledges; a ``RetryableError`` (or any unexpected error) propagates, the
framework answers 500 and Pub/Sub redelivers, then dead-letters. A ``PermanentError`` is recorded
as a failed event (where an operator sees it) and acknowledged.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from shared.envelope import Envelope, decode_push, encode
from shared.errors import PermanentError, RequestError, RetryableError
from shared.ports.publisher import Publisher
from shared.topology import FAILED_EVENTS

JSON_HEADERS = {"Content-Type": "application/json"}
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
log = logging.getLogger("cdp")
if not log.handlers:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def structured(severity: str, message: str, **fields: Any) -> None:
    """One JSON line: Cloud Logging reads severity and fields from it."""
    log.info(json.dumps({"severity": severity, "message": message, **fields}, default=str))


def http_answer(
    call: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[str, int, dict[str, str]]:
    try:
        status, body = call()
        return json.dumps(body), status, JSON_HEADERS
    except RequestError as error:
        headers = {**JSON_HEADERS, **error.headers}
        return json.dumps({"success": False, "message": error.message}), error.status, headers
    except RetryableError as error:  # nothing was accepted: the caller sends it again later
        structured("WARNING", "backend unavailable, answered 503", error=str(error))
        body = {"success": False, "message": f"Temporarily unavailable, retry later: {error}"}
        headers = {**JSON_HEADERS, "Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
        return json.dumps(body), 503, headers


def consume(
    data: dict[str, Any],
    handle: Callable[[Envelope], object],
    publisher: Callable[[], Publisher],
    stage: str,
) -> None:
    """Decode a pushed Pub/Sub message and run ``handle`` on it (see the module docstring)."""
    try:
        envelope = decode_push(data)
        handle(envelope)
    except PermanentError as error:
        raw = json.dumps(data.get("message", {}), default=str)[:100_000]
        structured(
            "ERROR", "permanent failure, message acknowledged", stage=stage, error=str(error)
        )
        message_id = (data.get("message") or {}).get("messageId", "")
        failure = {
            "failedId": f"{stage}:{message_id}",
            "stage": stage,
            "reason": str(error),
            "payload": raw,
        }
        if (data.get("message") or {}).get("attributes", {}).get("kind") != "failed":
            publisher().publish([encode(FAILED_EVENTS, "failed", [failure])])
