"""Validation of one event: each rule is a small unit, run in order, first problem wins.

An event that breaks a rule is not dropped: the handler sends it to the failed-events topic
with the rule's reason, and the rest of its batch goes on. User-facing reasons are constants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.ingest.body import Sent
from shared.ingest.spec import Call, parse_call, spec_problem

Event = dict[str, Any]

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
NOT_OBJECT = "Event is not a JSON object."
UNKNOWN_TYPE = (
    "Unknown event type {type!r}: expected one of track, identify, page, screen, group, alias."
)
EVENT_TOO_LARGE = "Event is larger than {limit} bytes."
TOO_DEEP = "Event nests objects or arrays deeper than {limit} levels."
NO_IDENTITY = "Event has neither userId nor anonymousId."


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int
    max_depth: int


RawRule = Callable[[Event, Limits, Sent], str | None]
CallRule = Callable[[Call], str | None]


def _check_type(event: Event, _limits: Limits, _sent: Sent) -> str | None:
    kind = event.get("type")
    return None if kind in CALL_TYPES else UNKNOWN_TYPE.format(type=kind)


def _check_size(_event: Event, limits: Limits, sent: Sent) -> str | None:
    """Measured on the bytes as sent (the parser records them), never by re-serialising."""
    return (
        EVENT_TOO_LARGE.format(limit=limits.max_event_bytes)
        if sent.size > limits.max_event_bytes
        else None
    )


def _too_deep(event: Event, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(event, 1)]
    while pending:
        value, depth = pending.pop()
        for child in value.values() if type(value) is dict else value:
            if type(child) is dict or type(child) is list:
                if depth >= limit:
                    return True
                pending.append((child, depth + 1))
    return False


def _check_depth(event: Event, limits: Limits, sent: Sent) -> str | None:
    """Fewer brackets than the limit cannot nest that deep: walk only the events that could."""
    if sent.openers < limits.max_depth or not _too_deep(event, limits.max_depth):
        return None
    return TOO_DEEP.format(limit=limits.max_depth)


def _has_id(value: object) -> bool:
    return value is not None and value != ""


def _check_identity(call: Call) -> str | None:
    return None if _has_id(call.userId) or _has_id(call.anonymousId) else NO_IDENTITY


RAW_RULES: tuple[RawRule, ...] = (_check_type, _check_size, _check_depth)
CALL_RULES: tuple[CallRule, ...] = (_check_identity,)


def check(event: Any, limits: Limits, sent: Sent) -> Call | str:
    """The event as a checked spec call, or the first reason it is invalid."""
    if not isinstance(event, dict):
        return NOT_OBJECT
    for raw_rule in RAW_RULES:
        problem = raw_rule(event, limits, sent)
        if problem:
            return problem
    try:
        call = parse_call(event)
    except ValidationError as error:
        return spec_problem(error)
    for call_rule in CALL_RULES:
        problem = call_rule(call)
        if problem:
            return problem
    return call
