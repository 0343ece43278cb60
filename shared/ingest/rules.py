"""Validation of one event: each rule is a small unit, run in order, first problem wins.

Two passes: ``check`` on the event as parsed (its type, the spec, an identity), and
``check_stored`` on the event as it will be stored and forwarded (compact JSON, after
enrichment): size and depth are measured on the bytes ingest writes anyway, never by
serialising an event a second time. An event that breaks a rule is not dropped: the handler
sends it to the failed-events topic with the rule's reason, and the rest of its batch goes on.
User-facing reasons are constants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.ingest.spec import Call, parse_call, parse_calls, spec_problem

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


RawRule = Callable[[Event], str | None]
CallRule = Callable[[Call], str | None]
StoredRule = Callable[[Event, Limits, bytes], str | None]  # the event and its stored text


def _check_type(event: Event) -> str | None:
    kind = event.get("type")
    return None if kind in CALL_TYPES else UNKNOWN_TYPE.format(type=kind)


def _check_size(_event: Event, limits: Limits, text: bytes) -> str | None:
    """Measured on the compact JSON ingest stores and forwards (enrichment included)."""
    if len(text) > limits.max_event_bytes:
        return EVENT_TOO_LARGE.format(limit=limits.max_event_bytes)
    return None


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


def _check_depth(event: Event, limits: Limits, text: bytes) -> str | None:
    """Fewer brackets than the limit cannot nest that deep: walk only the events that could."""
    openers = text.count(b"{")
    if text.find(b"[") >= 0:  # a search is cheaper than a count (and than ``in``), and many
        openers += text.count(b"[")  # events hold no array
    if openers < limits.max_depth or not _too_deep(event, limits.max_depth):
        return None
    return TOO_DEEP.format(limit=limits.max_depth)


def _has_id(value: object) -> bool:
    return value is not None and value != ""


def _check_identity(call: Call) -> str | None:
    return None if _has_id(call.get("userId")) or _has_id(call.get("anonymousId")) else NO_IDENTITY


RAW_RULES: tuple[RawRule, ...] = (_check_type,)
CALL_RULES: tuple[CallRule, ...] = (_check_identity,)
STORED_RULES: tuple[StoredRule, ...] = (_check_size, _check_depth)


def check(event: Any) -> Call | str:
    """The event as a checked spec call, or the first reason it is invalid."""
    if not isinstance(event, dict):
        return NOT_OBJECT
    for raw_rule in RAW_RULES:
        problem = raw_rule(event)
        if problem:
            return problem
    try:
        call = parse_call(event)
    except ValidationError as error:
        return spec_problem(error)
    return _call_problem(call) or call


def check_all(events: Sequence[Any]) -> list[Call | str]:
    """``[check(e) for e in events]``, with the spec checked in one call for the whole batch
    (a call per event costs more than the check itself). A batch holding any invalid event is
    checked again event by event: one bad event costs its batch a second check, and never
    fails the other events."""
    if not _raw_ok(events):
        return [check(event) for event in events]
    try:
        calls = parse_calls(events)
    except ValidationError:
        return [check(event) for event in events]
    checked: list[Call | str] = list(calls)
    for call_rule in CALL_RULES:  # rule by rule over the batch: no call per event but the rule's
        for i, call in enumerate(calls):
            if checked[i] is call:
                problem = call_rule(call)
                if problem:
                    checked[i] = problem
    return checked


def _raw_ok(events: Sequence[Any]) -> bool:
    """Every event an object that passes the raw rules (else ``check`` says which fails why)."""
    for event in events:
        if not isinstance(event, dict):
            return False
    for raw_rule in RAW_RULES:
        for event in events:
            if raw_rule(event):
                return False
    return True


def _call_problem(call: Call) -> str | None:
    for call_rule in CALL_RULES:
        problem = call_rule(call)
        if problem:
            return problem
    return None


def check_stored(event: Event, limits: Limits, text: bytes) -> str | None:
    """The first reason the event, as stored (``text`` is its compact JSON), is refused."""
    for rule in STORED_RULES:
        problem = rule(event, limits, text)
        if problem:
            return problem
    return None
