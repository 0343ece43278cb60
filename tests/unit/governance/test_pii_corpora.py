"""The generated corpora: every placed number is caught, every look-alike passes unchanged, and
the pre-scan never lets through what the walk would catch."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.governance.pii import PiiConfig, PiiGuard
from tests.pii_corpus import (
    CARD_PREFIXES,
    LOOKALIKE_KINDS,
    card,
    format_card,
    lookalike,
    lookalike_corpus,
    pii_corpus,
)

GUARD = PiiGuard(PiiConfig(), "ab" * 32)


def _with_batch_context(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """As ingest applies it: batch-level context under each event's own."""
    return [
        {**ev, "context": {**batch["context"], **ev.get("context", {})}} for ev in batch["batch"]
    ]


def test_every_placed_number_is_gone_after_the_guard() -> None:
    corpus = pii_corpus(seed=13)
    events = corpus.events + [ev for b in corpus.batches for ev in _with_batch_context(b)]
    out = "\n".join(json.dumps(GUARD.inspect(ev, json.dumps(ev).encode()).event) for ev in events)
    left = [p for p in corpus.placed if p.raw in out or p.compact in out]
    assert left == []
    assert {p.cls for p in corpus.placed} == {"card", "iban", "bank_account", "national_id"}
    assert len(corpus.raw_values) > 300


def test_scrub_leaves_none_of_them_in_a_failed_payload_or_log_line() -> None:
    corpus = pii_corpus(seed=14)
    out = json.dumps([GUARD.scrub(ev) for ev in corpus.events] + [GUARD.scrub(corpus.batches)])
    assert [v for v in corpus.raw_values if v in out] == []


def test_look_alikes_pass_unchanged() -> None:
    corpus = lookalike_corpus(seed=13)
    assert len(corpus.events) >= 3000
    changed = [
        ev for ev in corpus.events if GUARD.inspect(ev, json.dumps(ev).encode()).event is not ev
    ]
    assert changed == []
    assert [v for _, v in corpus.values if GUARD.scrub(v) != v] == []


def test_the_pre_scan_agrees_with_the_walk_on_both_corpora() -> None:
    """Redacting everything and keyless, ``inspect`` (pre-scan, then walk) and ``scrub`` (walk
    only) must write the same event."""
    redact = PiiGuard(PiiConfig.model_validate({"national_id": "redact"}), "")
    events = pii_corpus(seed=15).events + lookalike_corpus(seed=15, per_kind=40).events
    for ev in events:
        for text in (json.dumps(ev).encode(), json.dumps(ev, ensure_ascii=False).encode()):
            assert redact.inspect(ev, text).event == redact.scrub(ev), ev


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CARD_PREFIXES),
    st.sampled_from(("plain", "spaces", "dashes")),
    st.integers(0, 2**32),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_a_card_inside_any_text_is_caught(
    prefix: tuple[str, str, int], style: str, seed: int, before: str, after: str
) -> None:
    number = card(random.Random(seed), prefix[1], prefix[2])
    # Text that runs into the number with digits or separators makes a different number.
    before = before.rstrip("0123456789 -") + " " if before else ""
    after = " " + after.lstrip("0123456789 -") if after else ""
    note = before + format_card(number, style) + after
    ev = {"type": "track", "properties": {"note": note}}
    result = GUARD.inspect(ev, json.dumps(ev).encode())
    assert number not in json.dumps(result.event).replace(" ", "").replace("-", "")
    assert any(d.cls == "card" for d in result.detections)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LOOKALIKE_KINDS), st.integers(0, 2**32))
def test_any_generated_look_alike_passes(kind: str, seed: int) -> None:
    value = lookalike(random.Random(seed), kind)
    ev = {"type": "track", "properties": {"value": value, "items": [value]}}
    assert GUARD.inspect(ev, json.dumps(ev).encode()).event is ev


_REDACT_ALL = PiiGuard(PiiConfig.model_validate({"national_id": "redact"}), "")
_PIECES = (
    "4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005",
    "DE89 3704 0044 0532 0130 00", "123-45-6789", "123456789", "3171015708450001",
    "01.312.166.0-091.000", "AAAPL1234C", "2341 2341 2346", "1234567890", "123-456-7890",
    "1767268798000", "12345678-1234-1234-1234-123456789012",
    "0f3c9a4e-1d2b-4c5e-8f70-123456789abc", "2026-01-01T11:59:58.123456+00:00",
    "+62 812-3456-7890", "account", "account number", "rekening BCA", "no rek", "ssn", "SSN:",
    "NIK", "aadhaar", "iban", "s-", "ajs-next-", " ", "-", ".", "\n", "\t", '"', "\\", "é",
    "\u00a0", "#", ":", "x", "{", "}", "[", "]", ",",
)  # fmt: skip
_KEYS = (
    "note",
    "account_number",
    "ssn",
    "id",
    "type",
    "number",
    "accounts",
    "noRek",
    "bank_account",
    "x",
)


def _values(depth: int) -> st.SearchStrategy[Any]:
    text = st.lists(st.sampled_from(_PIECES), max_size=6).map("".join)
    leaf = st.one_of(text, st.integers(0, 10**17), st.floats(allow_nan=False), st.booleans())
    if depth == 0:
        return leaf
    inner = _values(depth - 1)
    return st.one_of(
        leaf,
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3),
    )


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _values(2), max_size=4), st.booleans())
def test_the_pre_scan_never_hides_what_the_walk_finds(
    props: dict[str, Any], ascii_only: bool
) -> None:
    ev = {"type": "track", "messageId": "ajs-next-1767268798000-0f3c9a4e", "properties": props}
    text = json.dumps(ev, ensure_ascii=ascii_only).encode()
    assert _REDACT_ALL.inspect(ev, text).event == _REDACT_ALL.scrub(ev)
