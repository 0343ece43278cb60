"""String formats a tracking plan can require of a property (``format: currency``).

Each is a predicate on the value, compiled once at import: the checks call them on every event
that carries such a property, so nothing here compiles, allocates a list or parses per call.
An email is judged after stripping surrounding spaces (identity does the same when it
normalises one): a form's ``" Ada@Example.com "`` is an email, not a violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

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
