"""The Amplitude stand-in's reading of one event of ``POST /2/httpapi``, as Amplitude's HTTP API
V2 and Identify API document it: the fields an event needs, the types and lengths they must
have, and user properties either as operations (``$set``, ``$unset``, ...) or plain, not mixed.
Each problem names the answer's field (``events_with_missing_fields``, ...) that lists the
event's index."""

from __future__ import annotations

from typing import Any

EARLIEST_MILLIS = 10**12  # 2001-09-09 in milliseconds; anything smaller was sent in seconds
OPERATIONS = frozenset({"$set", "$setOnce", "$add", "$append", "$prepend", "$unset",
                        "$preInsert", "$postInsert", "$remove", "$clearAll"})  # fmt: skip


def event_problems(event: Any, min_length: int) -> list[tuple[str, str]]:
    """``(answer field, event field)`` for each way the event breaks Amplitude's rules."""
    if not isinstance(event, dict):
        return [("events_with_invalid_fields", "event")]
    found: list[tuple[str, str]] = []
    if not is_text(event.get("event_type")):
        found.append(("events_with_missing_fields", "event_type"))
    ids = {k: event[k] for k in ("user_id", "device_id") if event.get(k) is not None}
    if not ids:
        found.append(("events_with_missing_fields", "user_id or device_id"))
    for name, value in ids.items():
        if not isinstance(value, str):
            found.append(("events_with_invalid_fields", name))
        elif len(value) < min_length:
            found.append(("events_with_invalid_id_lengths", name))
        elif name == "device_id" and set(value) <= {"0", "-"}:
            found.append(("events_with_invalid_fields", name))
    time = event.get("time")
    if time is not None and (not isinstance(time, int) or isinstance(time, bool)
                             or time < EARLIEST_MILLIS):  # fmt: skip
        found.append(("events_with_invalid_fields", "time"))
    if "insert_id" in event and not is_text(event["insert_id"]):
        found.append(("events_with_invalid_fields", "insert_id"))
    for name in ("event_properties", "user_properties", "group_properties", "groups"):
        if name in event and not isinstance(event[name], dict):
            found.append(("events_with_invalid_fields", name))
    if isinstance(event.get("user_properties"), dict) and not _operations(event["user_properties"]):
        found.append(("events_with_invalid_fields", "user_properties"))
    kind = event.get("event_type")
    if kind == "$identify" and not event.get("user_properties"):
        found.append(("events_with_missing_fields", "user_properties"))
    if kind == "$groupidentify":
        found += [("events_with_missing_fields", name) for name in ("groups", "group_properties")
                  if not event.get(name)]  # fmt: skip
    return found


def _operations(properties: dict[str, Any]) -> bool:
    """User properties as the Identify API takes them: operations (``$set``, ``$unset``, ...)
    each with an object (``$clearAll`` with ``"-"``), or plain properties, never both mixed."""
    named = [k for k in properties if k.startswith("$")]
    if not named:
        return True
    if len(named) < len(properties) or not set(named) <= OPERATIONS:
        return False
    return all(isinstance(v, dict) or (k == "$clearAll" and v == "-")
               for k, v in properties.items())  # fmt: skip


def is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""
