"""Decoding request bodies: content types, bounded gzip, JSON.

The top-level object is walked by hand (each value still parsed by the stdlib's C scanner) so
that every element of ``batch`` comes with its size as sent: checking the 32 KB event limit then
costs nothing, where re-serialising each event would cost more than parsing it.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

ACCEPTED_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
TOO_LARGE = "Request body is larger than {limit} bytes."
NOT_JSON = "Request body is not valid JSON."
NOT_OBJECT = "Request body must be a JSON object."
BAD_GZIP = "Request body is not valid gzip."
BAD_TYPE = "Unsupported content type {ctype!r}: send application/json or text/plain."

_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")


class Sent(NamedTuple):
    """An event's text as it arrived: its UTF-8 size, and how many ``{`` and ``[`` it holds
    (an upper bound of its nesting depth, so that most events need no walk to check it)."""

    size: int
    openers: int


@dataclass(frozen=True)
class Body:
    fields: dict[str, Any]
    sent: list[Sent] = field(default_factory=list)  # one per ``batch`` element


def sent_of(text: bytes | str, start: int = 0, end: int | None = None) -> Sent:
    end = len(text) if end is None else end
    if isinstance(text, bytes):
        size = end - start
        return Sent(size, text.count(b"{", start, end) + text.count(b"[", start, end))
    size = end - start if text.isascii() else len(text[start:end].encode("utf-8", "surrogatepass"))
    return Sent(size, text.count("{", start, end) + text.count("[", start, end))


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes; a bigger result is refused, never held in memory."""
    if encoding.strip().lower() not in ("gzip", "x-gzip"):
        if len(body) > limit:
            raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadRequest(BAD_GZIP) from error
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
    return out


def parse_body(body: bytes, content_type: str) -> Body:
    """Browsers send JSON as text/plain (no preflight); one Node SDK labels gzip as a form."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(BAD_TYPE.format(ctype=ctype))
    try:
        text = body.decode("utf-8")
        start = _skip(text, 0)
        if text[start : start + 1] != "{":
            json.loads(text)  # invalid JSON raises here; valid JSON is not an object
            raise BadRequest(NOT_OBJECT)
        return _object(text)
    except (ValueError, UnicodeDecodeError, RecursionError, StopIteration) as error:
        raise BadRequest(NOT_JSON) from error


def parse_json_object(body: bytes, content_type: str) -> dict[str, Any]:
    return parse_body(body, content_type).fields


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def _expect(text: str, at: int, char: str) -> int:
    if text[at : at + 1] != char:
        raise ValueError(f"expected {char!r} at {at}")
    return _skip(text, at + 1)


def _object(text: str) -> Body:
    fields: dict[str, Any] = {}
    sent: list[Sent] = []
    at = _expect(text, _skip(text, 0), "{")
    first = True
    while text[at : at + 1] != "}":
        if not first:
            at = _expect(text, at, ",")
        first = False
        if text[at : at + 1] != '"':
            raise ValueError(f"expected a key at {at}")
        key, at = _SCAN(text, at)
        at = _expect(text, _skip(text, at), ":")
        if key == "batch" and text[at : at + 1] == "[":
            fields[key], sent, at = _array(text, at)
        else:
            fields[key], at = _SCAN(text, at)
        at = _skip(text, at)
    if _skip(text, at + 1) != len(text):
        raise ValueError("extra data after the object")
    return Body(fields, sent)


def _array(text: str, at: int) -> tuple[list[Any], list[Sent], int]:
    items: list[Any] = []
    sent: list[Sent] = []
    at = _expect(text, at, "[")
    while text[at : at + 1] != "]":
        if items:
            at = _expect(text, at, ",")
        item, end = _SCAN(text, at)
        items.append(item)
        sent.append(sent_of(text, at, end))
        at = _skip(text, end)
    return items, sent, at + 1
