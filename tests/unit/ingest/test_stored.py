"""What ingest stores, checked on the JSON it writes once per event: the size and depth rules
refuse only the events they name (the rest of the batch goes on), and an integer orjson cannot
write still reaches the events topic with every digit."""

from __future__ import annotations

from typing import Any

from shared.ingest.config import IngestSettings
from shared.ingest.rules import EVENT_TOO_LARGE, TOO_DEEP
from shared.settings import Settings
from tests.unit.ingest.conftest import Ingest, ingest_settings

LIMIT = IngestSettings().max_depth
BYTES = Settings(project_id="x").max_event_bytes


def track(mid: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "event": "ok", "userId": "u1", "messageId": mid,
            "properties": properties}  # fmt: skip


def nested(opener: str, levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"x": value} if opener == "{" else [value]
    return value


def test_size_and_depth_refuse_only_their_events(ingest: Ingest) -> None:
    assert ingest_settings().max_event_bytes == BYTES
    batch = [
        track("fine", deep=nested("{", LIMIT - 3)),
        track("big", blob="x" * BYTES),
        track("deep-objects", deep=nested("{", LIMIT)),
        track("deep-arrays", deep=nested("[", LIMIT)),
        track("big-int", count=2**70),
    ]
    answer = ingest.post("/v1/batch", {"batch": batch})
    assert answer.status_code == 200
    kept = {e["messageId"]: e for e in ingest.events()}
    assert set(kept) == {"fine", "big-int"}
    assert kept["big-int"]["properties"]["count"] == 2**70
    reasons = {f["messageId"]: f["reason"] for f in ingest.failures()}
    assert reasons == {
        "big": EVENT_TOO_LARGE.format(limit=BYTES),
        "deep-objects": TOO_DEEP.format(limit=LIMIT),
        "deep-arrays": TOO_DEEP.format(limit=LIMIT),
    }
