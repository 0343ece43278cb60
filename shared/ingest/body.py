"""Decoding request bodies: content types, bounded gzip, JSON."""

from __future__ import annotations

import json
import zlib
from typing import Any

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

ACCEPTED_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
TOO_LARGE = "Request body is larger than {limit} bytes."
NOT_JSON = "Request body is not valid JSON."
NOT_OBJECT = "Request body must be a JSON object."
BAD_GZIP = "Request body is not valid gzip."
BAD_TYPE = "Unsupported content type {ctype!r}: send application/json or text/plain."


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


def parse_json_object(body: bytes, content_type: str) -> dict[str, Any]:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(BAD_TYPE.format(ctype=ctype))
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(NOT_JSON) from error
    if not isinstance(parsed, dict):
        raise BadRequest(NOT_OBJECT)
    return parsed
