"""What a planned value may be: its type, enum, range, string format (``format: currency``)
and pattern, and one property's constraints compiled into a single check.

Each format is a predicate on the value, compiled once at import: the checks call them on every
event that carries such a property, so nothing here compiles, allocates a list or parses per
call. An email is judged after stripping surrounding spaces (identity does the same when it
normalises one): a form's ``" Ada@Example.com "`` is an email, not a violation.

``value_check`` builds a property's check once per plan. Ingest calls it for every value of
every event, where reading the plan's pydantic model (seven attribute reads a value) cost more
than the check itself: the closure holds the constraints and its messages, already formatted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# ISO 4217 codes in use (funds and precious metals included; XTS and XXX, which name no
# currency, left out).
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_CODES.split())


def is_email(value: str) -> bool:
    return _EMAIL.match(value.strip()) is not None


def is_currency(value: str) -> bool:
    """Upper case, as ISO 4217 writes them: ``usd`` is a typo a dashboard would split on."""
    return value in ISO_4217


def is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


def is_date(value: str) -> bool:
    if _DATE.match(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "email": is_email,
    "currency": is_currency,
    "uuid": is_uuid,
    "date": is_date,
}
DESCRIBED = {
    "email": "an email address",
    "currency": "an ISO 4217 currency code",
    "uuid": "a UUID",
    "date": "a date (YYYY-MM-DD)",
}

EXPECTED = "expected {type}, got {got}"
NOT_IN_ENUM = "not one of {values}"
BELOW = "below the minimum {bound:g}"
ABOVE = "above the maximum {bound:g}"
NOT_FORMAT = "not {what}"
NO_MATCH = "does not match {pattern}"


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_integer(value: Any) -> bool:
    """JSON has one number type: ``3.0`` is an integer too."""
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: type(v) is int or type(v) is float,  # type(): bool is not a number
    "integer": _is_integer,
    "boolean": lambda v: type(v) is bool,
    "timestamp": _is_timestamp,
}
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
              list: "array"}  # fmt: skip
# The exact Python types whose values a shortcut below may pass without the full check.
_PLAIN: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def value_check(
    kind: str,
    enum: Sequence[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    format: str | None = None,
    pattern: str | None = None,
) -> Callable[[Any], str]:
    """What is wrong with a present, non-null value ('' when nothing is): type, then enum,
    then a string's format and pattern, or a number's range. Unknown names raise here, at
    load, not per event."""
    is_type = TYPE_CHECKS[kind]
    allowed = frozenset(enum) if enum is not None else None
    not_allowed = NOT_IN_ENUM.format(values=", ".join(str(v) for v in enum or ()))
    is_format = FORMATS[format] if format is not None else None
    not_format = NOT_FORMAT.format(what=DESCRIBED[format]) if format is not None else ""
    regex = re.compile(pattern) if pattern is not None else None
    no_match = NO_MATCH.format(pattern=pattern)
    below = BELOW.format(bound=minimum) if minimum is not None else ""
    above = ABOVE.format(bound=maximum) if maximum is not None else ""

    def problem(value: Any) -> str:
        if not is_type(value):
            return EXPECTED.format(type=kind, got=JSON_TYPES.get(type(value), "other"))
        if allowed is not None and value not in allowed:
            return not_allowed
        if type(value) is str:  # formats and patterns apply to strings, ranges to numbers
            if is_format is not None and not is_format(value):
                return not_format
            if regex is not None and regex.fullmatch(value) is None:
                return no_match
            return ""
        if minimum is not None and value < minimum:
            return below
        if maximum is not None and value > maximum:
            return above
        return ""

    return _shortcut(kind, allowed, is_format, regex, minimum, maximum, problem)


def _shortcut(
    kind: str,
    allowed: frozenset[Any] | None,
    is_format: Callable[[str], bool] | None,
    regex: re.Pattern[str] | None,
    minimum: float | None,
    maximum: float | None,
    problem: Callable[[Any], str],
) -> Callable[[Any], str]:
    """``problem`` behind a test that passes the common valid value in one expression. Each
    test only ever says "nothing is wrong" when ``problem`` would; anything else (a wrong
    type, a str subclass, a value out of range) goes to ``problem``, which names it."""
    if regex is not None or (allowed is not None and kind != "string"):
        return problem
    if kind == "timestamp":
        if is_format is not None:
            return problem
        return lambda v: "" if type(v) is str and _is_timestamp(v) else problem(v)
    if kind == "string":
        if allowed is not None and is_format is None:
            return lambda v: "" if type(v) is str and v in allowed else problem(v)
        if allowed is None and is_format is not None:
            return lambda v: "" if type(v) is str and is_format(v) else problem(v)
        if allowed is None:
            return lambda v: "" if type(v) is str else problem(v)
        return problem
    types = frozenset(_PLAIN[kind])
    if minimum is None and maximum is None:
        return lambda v: "" if type(v) in types else problem(v)
    low = float("-inf") if minimum is None else minimum
    high = float("inf") if maximum is None else maximum
    return lambda v: "" if type(v) in types and low <= v <= high else problem(v)
