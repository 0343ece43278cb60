"""Enrichment of one checked event: pure, no I/O, table-tested.

What every event leaves ingest with: ``receivedAt``, a ``messageId``, string ids, the source,
and a ``timestamp`` corrected for the device's clock.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.ingest.spec import Call
from shared.settings import Source

Event = dict[str, Any]

PATH_TYPES = {
    "track": "track",
    "t": "track",
    "identify": "identify",
    "i": "identify",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "group": "group",
    "g": "group",
    "alias": "alias",
    "a": "alias",
}
ID_FIELDS = ("userId", "anonymousId", "messageId", "groupId", "previousId")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


@dataclass(frozen=True)
class TimeBounds:
    """Corrected timestamps outside [received - past, received + future] become receivedAt."""

    future: timedelta
    past: timedelta


@dataclass(frozen=True)
class Arrival:
    """What every event of one request shares, formatted once per request rather than per
    event (formatting times is a measurable part of ingest's cost)."""

    source: Source
    received: datetime
    sent_at: datetime | None
    bounds: TimeBounds
    received_iso: str
    sent_iso: str | None
    earliest: datetime  # the bounds, as moments
    latest: datetime
    seconds: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls, source: Source, received: datetime, sent_at: datetime | None, bounds: TimeBounds
    ) -> Arrival:
        sent_iso = iso(sent_at) if sent_at else None
        return cls(
            source,
            received,
            sent_at,
            bounds,
            iso(received),
            sent_iso,
            received - bounds.past,
            received + bounds.future,
        )


def aware(moment: datetime | None) -> datetime | None:
    """SDKs that send a naive time mean UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_by_second(moment: datetime, seconds: dict[int, str]) -> str:
    """``iso(moment)`` for an aware moment, its date and time of day formatted once per second
    (kept in ``seconds``): the events of a request mostly share their second, and formatting a
    datetime costs more than the rest of an event's enrichment."""
    since = moment - _EPOCH  # normalised: days may be negative, the rest is not
    second = since.days * 86_400 + since.seconds
    prefix = seconds.get(second)
    if prefix is None:
        prefix = seconds[second] = iso(moment)[:19]  # YYYY-MM-DDTHH:MM:SS
    return prefix + _MILLIS[since.microseconds // 1000]


def corrected_time(call: Call, sent_at: datetime | None, received: datetime) -> datetime:
    """``receivedAt - (sentAt - originalTimestamp)``: the device's clock error cancels out."""
    original = call.get("originalTimestamp") or call.get("timestamp")
    if original is None:
        return received
    if original.tzinfo is None:  # aware(), inline: this runs for every event
        original = original.replace(tzinfo=UTC)
    sent = call.get("sentAt")
    if sent is None:
        sent = sent_at
    elif sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    if sent is None:
        return original
    try:
        return received - (sent - original)
    except OverflowError:  # clocks a few thousand years apart: trust ours
        return received


def _clean_text(text: str) -> str:
    return _UNSAFE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def scrub(value: Any) -> Any:
    """Drop NUL characters and lone surrogates: many stores and APIs truncate or refuse them."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _lift_context_traits(event: Event) -> None:
    """Some SDKs (RudderStack's) put an identify's traits only in ``context.traits``: give the
    event top-level ``traits`` too, so consumers read traits from one place."""
    if event.get("type") != "identify" or event.get("traits"):
        return
    context = event.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    if isinstance(traits, dict) and traits:
        event["traits"] = dict(traits)


def enrich(event: Event, call: Call, arrival: Arrival) -> Event:
    out = dict(event)
    for name in ID_FIELDS:
        kind = type(out.get(name))
        if kind is int or kind is float:  # bool is neither: type(), not isinstance()
            out[name] = str(out[name])
    if not out.get("messageId"):
        out["messageId"] = f"cdp-{uuid.uuid4()}"
    received = arrival.received
    out["receivedAt"] = arrival.received_iso
    stamp = corrected_time(call, arrival.sent_at, received)
    said = event.get("originalTimestamp") or event.get("timestamp")
    if said:
        out["originalTimestamp"] = said  # what the device said, as it said it
    if stamp != received and arrival.earliest <= stamp <= arrival.latest:
        out["timestamp"] = iso_by_second(stamp, arrival.seconds)
    else:
        out["timestamp"] = arrival.received_iso
    if arrival.sent_iso and "sentAt" not in out:
        out["sentAt"] = arrival.sent_iso
    if out.get("type") == "identify":
        _lift_context_traits(out)
    out["sourceId"] = arrival.source.id
    out["sourceName"] = arrival.source.name
    return out
