"""Decoding request bodies: content types, bounded gzip, JSON.

Parsed with orjson (several times the stdlib's speed). Every element of ``batch`` comes with
its size and its count of ``{``/``[`` (an upper bound of its nesting depth), measured on its
compact serialisation, and only when the body is big enough for an element to break a limit.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, NamedTuple

import orjson

from shared.envelope import dumps
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

ACCEPTED_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
TOO_LARGE = "Request body is larger than {limit} bytes."
NOT_JSON = "Request body is not valid JSON."
NOT_OBJECT = "Request body must be a JSON object."
BAD_GZIP = "Request body is not valid gzip."
BAD_TYPE = "Unsupported content type {ctype!r}: send application/json or text/plain."


class Sent(NamedTuple):
    """An event's text as it arrived: its UTF-8 size, and how many ``{`` and ``[`` it holds
    (an upper bound of its nesting depth, so that most events need no walk to check it)."""

    size: int
    openers: int


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


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Browsers send JSON as text/plain (no preflight); one Node SDK labels gzip as a form."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(BAD_TYPE.format(ctype=ctype))
    parsed = _loads(body)
    if not isinstance(parsed, dict):
        raise BadRequest(NOT_OBJECT)
    return parsed


def _loads(body: bytes) -> Any:
    """orjson first; what it refuses but JSON allows (lone surrogate escapes, NaN) goes through
    the stdlib, so that odd text is cleaned later rather than the whole request refused."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadRequest(NOT_JSON) from error


def measure(items: list[Any], body: bytes, max_bytes: int, max_depth: int) -> list[Sent]:
    """Each element's size and bracket count. When the whole body is within both limits (the
    common case) the body's own figures bound every element's, so none is serialised again."""
    whole = Sent(len(body), body.count(b"{") + body.count(b"["))
    if whole.size <= max_bytes and whole.openers < max_depth:
        return [whole] * len(items)
    out = []
    for item in items:
        text = dumps(item)
        out.append(Sent(len(text), text.count(b"{") + text.count(b"[")))
    return out
