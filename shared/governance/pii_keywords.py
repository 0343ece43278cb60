"""Keywords: what makes a number with no checksum (an account number, an undashed SSN, a NIK)
count as PII. A number counts when its field's name says so (``account_number``,
``customer_ssn``, ``noRek``) or, inside free text, when the keyword stands right before it
("my account number is 1234567890", "rekening BCA 1234567890", "SSN: 123456789").

A field name matches when it ENDS with the keyword's words, optionally followed by a generic
word (``number``, ``no``...): ``bank_account`` and ``account_no`` match ``account``;
``account_balance``, ``account_id`` and ``account_type`` do not, so a balance or an internal id
passes. Words are split on ``_``, ``-``, ``.``, spaces and camelCase; the name written without
separators matches too (``norek`` for ``no_rek``). A generic field (``number``, ``value``,
``id``) takes its context from its parent (``{"bank_account": {"number": ...}}``), and an ``id``
next to a ``type`` (``context.externalIds[]``) from that type (``{"type": "ssn", "id": ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "bank_account": (
        "account",
        "acct",
        "bank_account",
        "rekening",
        "no_rek",
        "nomor_rekening",
        "routing",
        "aba",
        "sort_code",
        "iban",
        "bsb",
    ),
    "national_id": (
        "ssn",
        "social_security",
        "nik",
        "ktp",
        "nomor_induk",
        "nomor_identitas",
        "npwp",
        "aadhaar",
        "aadhar",
        "uidai",
        "national_id",
        "identity_number",
        "id_number",
        "tax_id",
    ),
}

# Words a field name may end with after its keyword: "account_number", "ssn_no".
GENERIC = frozenset({"number", "numbers", "no", "num", "nr", "nbr", "nomor", "value", "code"})
# Fields that say nothing themselves: their parent's name is their context.
CONTEXTLESS = frozenset({"number", "no", "num", "nr", "value", "id"})
# Words that may stand between a keyword and its number in free text.
_FILLER = r"number|numbers|no|num|nr|nbr|nomor|is|are|was|adalah|of|my|your|the|saya|anda|ke"
# A bank's short name between keyword and number ("rekening BCA 1234567890"): upper case only.
_BANK_CODE = r"[A-Z]{2,6}"

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def words(name: str) -> tuple[str, ...]:
    """A field name's lower-case words: ``accountNumber`` → ``("account", "number")``."""
    return tuple(w.lower() for w in _WORD.findall(name))


def _strip_generic(parts: tuple[str, ...]) -> tuple[str, ...]:
    while len(parts) > 1 and parts[-1] in GENERIC:
        parts = parts[:-1]
    return parts


def name_matches(name: str, keyword: str) -> bool:
    """Whether a field name says it holds what ``keyword`` names (see the module's rule)."""
    key = words(name)
    kw = words(keyword)
    if not key or not kw:
        return False
    if "".join(key) == "".join(kw):
        return True
    stripped = _strip_generic(key)
    joined, kw_joined = "".join(stripped), "".join(kw)
    if joined == kw_joined or joined == kw_joined + "s":
        return True
    tail = stripped[-len(kw) :]
    if len(tail) < len(kw):
        return False
    return tail[:-1] == kw[:-1] and tail[-1] in (kw[-1], kw[-1] + "s")


def classes_for_name(name: str, keywords: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The keyword-gated classes a field name speaks for."""
    return frozenset(
        cls for cls, kws in keywords.items() if any(name_matches(name, kw) for kw in kws)
    )


def _keyword_alternatives(kws: Iterable[str]) -> str:
    parts = sorted({r"[\s._-]*".join(map(re.escape, words(kw))) for kw in kws}, key=len)
    return "|".join(reversed(parts))


def text_pattern(kws: Iterable[str]) -> re.Pattern[str]:
    """Matches free text that ENDS with a keyword and its filler, i.e. the text right before a
    number that the keyword names. Searched on the few dozen characters before a candidate."""
    return re.compile(
        rf"(?i:(?<![a-z0-9])(?:{_keyword_alternatives(kws)})s?(?![a-z0-9]))"
        rf"(?:[^A-Za-z0-9]+(?:(?i:(?:{_FILLER})(?![a-z0-9]))|{_BANK_CODE}(?![A-Za-z0-9])))*"
        r"[^A-Za-z0-9]*\Z"
    )


def json_window_pattern(kws: Iterable[str]) -> re.Pattern[bytes]:
    """Matches JSON text (bytes) that ENDS with a keyword and its filler: the free-text rule of
    ``text_pattern`` widened for JSON escapes (``\\n``, ``\\u00a0``) and any short word."""
    start = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4}))"
    kw = rf"{start}(?i:(?:{_keyword_alternatives(kws)})s?)(?![A-Za-z0-9])"
    gap = r'(?:[^A-Za-z0-9\\]|\\[nrtbf"\\/]|\\u[0-9a-fA-F]{4})'
    filler = rf"(?:{gap}+(?:(?i:{_FILLER})|[A-Za-z]{{2,6}})(?![A-Za-z0-9]))*{gap}*"
    return re.compile((kw + filler + r"\Z").encode())
