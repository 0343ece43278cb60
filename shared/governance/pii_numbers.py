"""IBANs and national ids: the shapes to look for, and python-stdnum's checks to confirm them.

Two kinds of detector. Those whose shape or checksum is strong enough to stand alone are looked
for anywhere: an IBAN (ISO 13616 mod-97 with the country's length and BBAN layout), a dashed
US SSN outside the SSA's never-issued ranges, an NPWP in its dotted form, an Indian PAN, an
Aadhaar written in its printed 4-4-4 groups. The others accept too many random numbers to stand
alone (an Indonesian NIK's region code and birth date admit ~3 % of random 16-digit numbers, a
12-digit Verhoeff check ~8 %, an undashed SSN or a bank account number has no check at all), so
they count only where a keyword says what the number is: see ``pii_keywords``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from stdnum import iban
from stdnum.id import nik, npwp
from stdnum.in_ import aadhaar, pan
from stdnum.us import ssn

Found = tuple[int, int, str]  # (start, end, the number in compact form)

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}[A-Z0-9]*(?: [A-Z0-9]+)*(?![A-Za-z0-9])")
_SSN_DASHED = re.compile(r"(?<![0-9])(?<![0-9]-)[0-9]{3}-[0-9]{2}-[0-9]{4}(?!-?[0-9])")
_NPWP_DOTTED = re.compile(
    r"(?<![0-9])(?<![0-9][.-])0?[0-9]{2}\.[0-9]{3}\.[0-9]{3}\.[0-9]-[0-9]{3}\.[0-9]{3}(?![.-]?[0-9])"
)
_PAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{5}[0-9]{4}[A-Z](?![A-Za-z0-9])")
# Not inside a dash- or space-joined token ("…-3466-4308-9409-…" is a UUID's middle).
_AADHAAR_GROUPED = re.compile(
    r"(?<![0-9])(?<![A-Za-z0-9][ -])[2-9][0-9]{3}([ -])[0-9]{4}\1[0-9]{4}(?![ -]?[A-Za-z0-9])"
)
# A number as people write one next to its keyword: digit groups joined by single spaces or
# dashes ("123-456-7890", "0123 4567 89"); not glued to letters (hex ids, "INV123456"), not
# dash-joined to a word (slugs and ids: "s-1767268798", "ajs-next-1767268798000-…", UUIDs),
# not the fraction or integer part of a decimal ("34.521741", "1500000.50").
_RUN = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9]\.)(?<![A-Za-z0-9]-)[0-9]+(?:[ -][0-9]+)*"
    r"(?![0-9A-Za-z])(?!\.[0-9])(?!-[A-Za-z0-9])"
)
# ... and with a group of 6+ digits or two neighbouring groups of 3+3 or 2+4 digits; layouts
# of short groups only (a 12-34-56 sort code, a 2026-01-31 date) are not account numbers.
_LONG_GROUPS = re.compile(r"[0-9]{6}|[0-9]{3}[ -][0-9]{3}|[0-9]{2}[ -][0-9]{4}")

BANK_ACCOUNT_DIGITS = (6, 20)


def _compact(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def find_ibans(text: str) -> Iterator[Found]:
    """IBANs in ``text`` (upper case, spaced in groups or not); the longest valid prefix of a
    spaced run wins, so "DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX" yields the IBAN only."""
    for match in _IBAN.finditer(text):
        body = match.group()
        cuts = [m.start() for m in re.finditer(" ", body)] + [len(body)]
        for cut in reversed(cuts):
            value = _compact(body[:cut])
            if 15 <= len(value) <= 34 and iban.is_valid(value):
                yield match.start(), match.start() + cut, value
                break


Finder = Callable[[str], Iterator[Found]]


def _checked(pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Finder:
    def find(text: str) -> Iterator[Found]:
        for match in pattern.finditer(text):
            value = _compact(match.group())
            if valid(value):
                yield match.start(), match.end(), value

    return find


def _ssn_valid(value: str) -> bool:
    return bool(ssn.is_valid(value))


def _aadhaar_valid(value: str) -> bool:
    return bool(aadhaar.is_valid(value))


find_ssn_dashed = _checked(_SSN_DASHED, _ssn_valid)
find_npwp_dotted = _checked(_NPWP_DOTTED, npwp.is_valid)
find_pan = _checked(_PAN, pan.is_valid)
find_aadhaar_grouped = _checked(_AADHAAR_GROUPED, _aadhaar_valid)

UNGATED_NATIONAL_ID: tuple[Finder, ...] = (
    find_ssn_dashed,
    find_npwp_dotted,
    find_pan,
    find_aadhaar_grouped,
)


def is_gated_national_id(digits: str) -> bool:
    """A number that is a national id once a keyword says so: an SSN without dashes, a NIK, an
    NPWP without dots, an Aadhaar without groups (each confirmed by stdnum)."""
    size = len(digits)
    if size == 9:
        return _ssn_valid(digits)
    if size == 12:
        return _aadhaar_valid(digits)
    if size in (15, 16):
        return bool(npwp.is_valid(digits)) or (size == 16 and bool(nik.is_valid(digits)))
    return False


def is_bank_account(digits: str) -> bool:
    """A number that is an account number once a keyword says so: no checksum, a length."""
    low, high = BANK_ACCOUNT_DIGITS
    return low <= len(digits) <= high


def number_runs(text: str) -> Iterator[Found]:
    """Candidate numbers for the keyword-gated detectors: (start, end, digits)."""
    for match in _RUN.finditer(text):
        if _LONG_GROUPS.search(match.group()):
            yield match.start(), match.end(), _compact(match.group())
