"""Bodies: bounded gzip (a bomb is refused, not expanded), content types, JSON objects."""

from __future__ import annotations

import gzip

import pytest

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from shared.ingest.body import Sent, decompress, measure, parse_body


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)  # ~50 KB compressed
    with pytest.raises(PayloadTooLarge):
        decompress(bomb, "gzip", limit=500 * 1024)


def test_gzip_within_the_limit_inflates() -> None:
    assert decompress(gzip.compress(b'{"a":1}'), "gzip", limit=100) == b'{"a":1}'


@pytest.mark.parametrize(
    ("body", "encoding", "error"),
    [(b"x" * 101, "", PayloadTooLarge), (b"not gzip", "gzip", BadRequest)],
)
def test_refused_bodies(body: bytes, encoding: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decompress(body, encoding, limit=100)


@pytest.mark.parametrize(
    ("body", "ctype", "error"),
    [
        (b"{", "application/json", BadRequest),
        (b"[1]", "application/json", BadRequest),
        (b'{"a": "\x00"}', "application/json", BadRequest),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", BadRequest),
        (b"\xff\xfe", "application/json", BadRequest),
        (b"{}", "application/xml", UnsupportedMediaType),
        (b"{}", "multipart/form-data; boundary=x", UnsupportedMediaType),
    ],
)
def test_unparseable_or_wrong_type(body: bytes, ctype: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_body(body, ctype)


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/json; charset=utf-8", "text/plain", ""]
)
def test_accepted_types(ctype: str) -> None:
    assert parse_body(b'{"a": 1}', ctype) == {"a": 1}


def test_a_body_within_the_limits_bounds_every_element_without_measuring_them() -> None:
    body = b'{"batch": [{"a": 1}, {"b": [1, 2]}]}'
    items = parse_body(body, "application/json")["batch"]
    assert measure(items, body, max_bytes=1000, max_depth=16) == [Sent(len(body), 5)] * 2


def test_elements_of_a_big_or_bracket_heavy_body_are_measured_one_by_one() -> None:
    body = b'{"batch": [ {"a": "\xc3\xa9"} ,{"b":[1, 2]}, 3 ], "x": {}}'
    items = parse_body(body, "application/json")["batch"]
    assert items == [{"a": "é"}, {"b": [1, 2]}, 3]
    expected = [Sent(len('{"a":"é"}'.encode()), 1), Sent(len('{"b":[1,2]}'), 2), Sent(1, 0)]
    assert measure(items, body, max_bytes=10, max_depth=16) == expected
    assert measure(items, body, max_bytes=1000, max_depth=3) == expected


def test_what_orjson_refuses_but_json_allows_still_parses() -> None:
    assert parse_body(b'{"a": "\\ud800", "n": NaN}', "text/plain")["a"] == "\ud800"


@pytest.mark.parametrize(
    "body", [b'{"a":1,}', b'{"a":1} x', b'{"batch":[1,]}', b'{"batch":[1 2]}', b"{'a':1}", b"{"]
)
def test_what_json_refuses_is_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(body, "application/json")
