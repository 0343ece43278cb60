"""The pre-scan: whether an event's JSON text can hold anything the walk would detect.

The guard runs on every event at ingest, where a regex over every byte (or one search per
keyword) would cost more than ingest's own work. So the common clean event costs one
``translate`` of the JSON text into a shape view (digits → ``0``, capitals → ``A``, small
letters → ``a``, space → ``-``) and five literal searches in it, all at C speed:

- ``000000``   six digits in a row: cards, unbroken national ids and account numbers;
- ``000-000``, ``00-0000``  grouped numbers (cards, Aadhaar, SSN, grouped account numbers);
- ``AA00``     an IBAN's start, or the inside of an Indian PAN;
- ``.000.000.`` an NPWP in its dotted form.

Every shape a detector accepts contains one of them (the gated number rule in
``pii_numbers`` is written so that this holds). What nearly every event carries costs no
validation: microsecond fractions of timestamps are blanked first, a hit inside a UUID is
dismissed. Each other hit is validated in a small window: the stdnum checks of the ungated
detectors, and for a number a keyword could gate, the keyword context the walk would use —
the field holding it (memoised per name), the free text before it, and where that context lies
further away (a ``number`` under ``bank_account``, an array under ``accounts``, an ``id`` next
to a ``type``), the enclosing field or simply: walk.
The rule is that this answers True whenever the walk would find something; it may answer True
when the walk finds nothing.
"""

from __future__ import annotations

import bisect
import re

from shared.governance import pii_cards, pii_numbers
from shared.governance.pii_keywords import CONTEXTLESS, json_window_pattern
from shared.governance.pii_scan import Scanner

_SHAPE = bytes.maketrans(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ",
    b"0" * 10 + b"A" * 26 + b"a" * 26 + b"-",
)
_LITERALS = (b"000000", b"000-000", b"00-0000", b"AA00", b".000.000.")
_FRACTION = (b"0.000000", b"0.######")
_DIGIT_LITERALS = (b"000000", b"000-000", b"00-0000")
# A digit hit's validation also answers for digit hits this close (skipped): its finders see
# 48 bytes either side (a card, SSN or Aadhaar spans at most 25) and it checks every number
# run overlapping 18 bytes either side.
_COVER = 18
_SPAN = 48  # bytes either side of a hit handed to the validators (an IBAN spans up to 42)
_CONTEXT = 300  # bytes before a number searched for its keyword (the walk: 48 characters)
_CONTEXT_PLAIN = 50  # ... when those bytes are plain ASCII without escapes
_GATED_MIN = min(pii_numbers.BANK_ACCOUNT_DIGITS[0], 9)  # fewest digits a keyword can gate
_THIRTEEN = b"0" * 13
_ZERO = ord("0")
_CARD_FIRST = frozenset(ord(d) for d in pii_cards.FIRST_DIGITS)
# The walk's number rule (not glued to letters, not dash-joined to a word) read in JSON text,
# where an escape puts letters or hex digits before a number that the value itself does not
# have (``\n1234567``, ``\u00e9-1234567``): those still count. Wider than the walk (no
# decimal rule), never narrower.
_ESCAPED = rb"(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4})"
_RUN = re.compile(
    rb"(?:(?<![A-Za-z0-9])|" + _ESCAPED + rb")"
    rb"(?:(?<![A-Za-z0-9]-)|(?<=\\[nrtbf]-)|(?<=\\u[0-9a-fA-F]{4}-))"
    rb"[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z])(?!-[A-Za-z0-9])"
)


# What may stand between a field's ``":`` and a number that is (inside) its value: nothing
# (an integer), the opening quote and text of a string, arrays opened around either.
_DIRECT = re.compile(rb'\s*[\[\s]*(?:"[^"\\]*(?:\\.[^"\\]*)*)?\Z')
_STRUCTURAL = re.compile(rb"[:\[\]{},]")
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")
_HEX = bytes.maketrans(b"0123456789abcdefABCDEF", b"0" * 22)
_UUID = b"00000000-0000-0000-0000-000000000000"


def _covered(checked: list[int], at: int) -> bool:
    i = bisect.bisect_left(checked, at - _COVER)
    return i < len(checked) and checked[i] <= at + _COVER


def _maybe_card(text: bytes, near: bytes, start: int) -> bool:
    """Whether the window around a hit can hold a card: a grouped card layout, or 13+ digits in
    a row starting with a digit some network starts with (timestamps start with 1: no)."""
    if b"0000-0000-0000-0" in near or b"0000-000000-0000" in near:
        return True
    at = near.find(_THIRTEEN)
    while at >= 0:
        if at == 0 or text[start + at] in _CARD_FIRST:
            return True
        end = at + len(_THIRTEEN)
        while end < len(near) and near[end] == _ZERO:
            end += 1
        at = near.find(_THIRTEEN, end)
    return False


def _known_uuid(ends: list[int], at: int, length: int) -> int:
    """The end of a UUID already found that holds ``[at, at + length)``, else 0."""
    i = bisect.bisect_left(ends, at + length)
    return ends[i] if i < len(ends) and ends[i] - len(_UUID) <= at else 0


def _uuid_end(text: bytes, at: int, length: int) -> int:
    """The end of the UUID holding ``text[at:at + length]``, or -1. Nearly every event carries
    one or two (messageId, anonymousId) and half of all UUIDs hold six decimal digits in a row;
    none can hold a detection (8-4-4-4-12 hex groups are no card layout, too long an account
    number, and their digit groups are dash-joined to the next), so a hit inside one needs no
    validation. Only one not glued to a letter or digit counts, and UUID shapes cannot overlap,
    so a small window around the hit decides it (blanking every UUID of the text first costs a
    pass more than the few hits do)."""
    low = max(0, at + length - len(_UUID))
    window = text[low : at + len(_UUID)].translate(_HEX)
    found = window.find(_UUID)
    while 0 <= found <= at - low:
        start = low + found
        end = start + len(_UUID)
        if (
            end >= at + length
            and not text[start - 1 : start].isalnum()
            and not text[end : end + 1].isalnum()
        ):
            return end
        found = window.find(_UUID, found + 1)
    return -1


class Prescan:
    """One per guard: the keyword patterns and a memo of field names already classified."""

    def __init__(self, scanner: Scanner, keywords: dict[str, tuple[str, ...]]) -> None:
        self._scanner = scanner
        self._windows = [json_window_pattern(kws) for kws in keywords.values() if kws]
        self._gated = bool(self._windows)

    def candidate(self, text: bytes) -> bool:
        """Whether ``text`` (an event's JSON) may hold a detection: then walk the event."""
        shape = text.translate(_SHAPE).replace(*_FRACTION)
        checked: list[int] = []  # digit hits validated, sorted: their windows cover near ones
        uuids: list[int] = []  # ends of the UUIDs hits were found in, sorted
        for literal in _LITERALS:
            digits = literal in _DIGIT_LITERALS  # same validators: one window answers
            at = shape.find(literal)
            while at >= 0:
                if not (digits and _covered(checked, at)):
                    end = _known_uuid(uuids, at, len(literal)) or _uuid_end(text, at, len(literal))
                    if end >= 0:  # the next hit not inside this UUID
                        if end not in uuids:
                            bisect.insort(uuids, end)
                        at = shape.find(literal, end - len(literal) + 1)
                        continue
                    if self._hit(text, shape, at, literal):
                        return True
                    if digits:
                        bisect.insort(checked, at)
                at = shape.find(literal, at + 1)
        return False

    def _hit(self, text: bytes, shape: bytes, at: int, literal: bytes) -> bool:
        start, end = max(0, at - _SPAN), at + _SPAN
        near = shape[start:end]
        # JSON escapes stand for characters the detectors read as boundaries (a newline, a
        # quote, a non-ASCII letter): read them as one too, not as the letters they are spelled
        # with ("\\nAAAPL1234C" holds a PAN; "n" glued to it would hide it).
        piece = _ESCAPE.sub("~", text[start:end].decode("utf-8", "replace"))
        if literal == b"AA00":
            return any(pii_numbers.find_ibans(piece)) or any(pii_numbers.find_pan(piece))
        if literal == b".000.000.":
            return any(pii_numbers.find_npwp_dotted(piece))
        if _maybe_card(text, near, start) and any(pii_cards.find_cards(piece)):
            return True
        if b"000-00-0000" in near and any(pii_numbers.find_ssn_dashed(piece)):
            return True
        if b"0000-0000-0000" in near and any(pii_numbers.find_aadhaar_grouped(piece)):
            return True
        if not self._gated:
            return False
        for run in _RUN.finditer(text, start, end):
            if run.end() <= at - _COVER or run.start() > at + _COVER + 9:
                continue  # far from this hit: a hit of its own checks it
            body = run.group()
            if len(body) - body.count(b" ") - body.count(b"-") < _GATED_MIN:
                continue
            if self._in_context(text, run.start()):
                return True
        return False

    def _in_context(self, text: bytes, at: int) -> bool:
        colon = text.rfind(b'":', 0, at)
        if colon < 0:
            return True
        key = _key_before(text, colon)
        if key is None:
            return True  # an escaped quote: cannot tell cheaply, let the walk decide
        if self._scanner.named(key):
            return True
        if self._keyword_before(text, at):
            return True
        if not _DIRECT.match(text, colon + 2, at):
            return True  # not plainly this field's value (an element after others): walk
        if key.lower() in CONTEXTLESS:
            return self._named_container(text, text.rfind(b"{", 0, colon), at)
        return False

    def _keyword_before(self, text: bytes, at: int) -> bool:
        """The free-text rule: a keyword and its filler right before the number. The walk looks
        48 characters back; in JSON those are 48 bytes unless escapes or UTF-8 widen them."""
        before = text[max(0, at - _CONTEXT) : at]
        if before.isascii() and b"\\" not in before:
            before = before[-_CONTEXT_PLAIN:]
        return any(p.search(before) for p in self._windows)

    def _named_container(self, text: bytes, opener: int, at: int) -> bool:
        """Whether the object or array opened at ``opener`` sits under a keyword-named field;
        True wherever that is not plain to see (nested or closed brackets in between, an
        element of an array, an object with a ``type`` that could name its ``id``)."""
        if opener < 2 or b"}" in text[opener:at] or b"]" in text[opener:at]:
            return True  # a closed object or array in between: its opener is not ours
        if text[opener - 1 : opener] in (b"[", b","):
            return True
        if b'"type"' in text[opener:]:
            return True
        if text[opener - 2 : opener] != b'":':
            return True
        key = _key_before(text, opener - 2)
        return key is None or bool(self._scanner.named(key))


def _key_before(text: bytes, colon: int) -> str | None:
    """The field name whose closing quote is at ``colon``; None when escapes make it unclear."""
    open_quote = text.rfind(b'"', 0, colon)
    name = text[open_quote + 1 : colon]
    if open_quote < 0 or b"\\" in text[open_quote - 1 : colon] or _STRUCTURAL.search(name):
        return None  # an escape, or the quote that opened a value starting with ":"
    return name.decode("utf-8", "replace")
