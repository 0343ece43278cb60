"""Generated corpora for the PII guard: numbers it must catch, and look-alikes it must leave alone.

Deterministic from a seed, so a failing case can be replayed. ``pii_corpus`` places valid card
numbers of every major network (with and without separators), IBANs of several countries, SSNs,
NIKs, NPWPs, PANs, Aadhaars and keyword-named account numbers in Segment events: properties,
nested objects, arrays, traits, context, free text, ``context.externalIds``, ``userId`` and the
context of a batch. ``raw_values`` lists every placed number as written and in compact form, so
an end-to-end test can grep every store, log and destination stand-in for them.
``lookalike_corpus`` builds thousands of values that merely look like PII (order ids, UUIDs,
timestamps, phone numbers, amounts, dates, zip codes, versions, hex ids, 16-digit numbers that
fail Luhn, Luhn-valid numbers outside every IIN range, IBAN and SSN shapes that fail their
checks) and events carrying them: the guard must pass every one unchanged.
"""

from __future__ import annotations

import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from stdnum import iban, luhn, verhoeff
from stdnum.id import nik, npwp
from stdnum.in_ import aadhaar, pan
from stdnum.us import ssn

# (network, an IIN prefix, length) for every network the guard knows, common ones twice.
CARD_PREFIXES: tuple[tuple[str, str, int], ...] = (
    ("visa", "4", 16),
    ("visa", "4", 13),
    ("visa", "4", 19),
    ("mastercard", "51", 16),
    ("mastercard", "55", 16),
    ("mastercard", "2221", 16),
    ("mastercard", "2720", 16),
    ("amex", "34", 15),
    ("amex", "37", 15),
    ("discover", "6011", 16),
    ("discover", "65", 16),
    ("discover", "644", 19),
    ("jcb", "3528", 16),
    ("jcb", "3589", 19),
    ("unionpay", "62", 16),
    ("unionpay", "62", 19),
    ("diners", "36", 14),
    ("diners", "300", 14),
    ("maestro", "6759", 16),
    ("maestro", "5018", 13),
    ("mir", "2200", 16),
    ("rupay", "60", 16),
    ("rupay", "508", 16),
    ("troy", "9792", 16),
)
IBAN_COUNTRIES = ("DE", "GB", "FR", "NL", "ES", "IT", "BE")
# BBAN layouts as ISO 13616 writes them: n digits, a capitals, c either.
_BBAN = {
    "DE": "8n10n",
    "GB": "4a6n8n",
    "FR": "5n5n11c2n",
    "NL": "4a10n",
    "ES": "4n4n1n1n10n",
    "IT": "1a5n5n12c",
    "BE": "3n7n2n",
}
NIK_REGIONS = ("3171", "3273", "3578", "5171", "1271", "7371")
PAN_HOLDERS = "PCHFT"


@dataclass(frozen=True)
class Placed:
    """One number placed in the corpus: its class, as written, compact, and where it went."""

    cls: str
    raw: str
    compact: str
    where: str


@dataclass
class PiiCorpus:
    events: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    placed: list[Placed] = field(default_factory=list)

    @property
    def raw_values(self) -> list[str]:
        """Every placed number as written and compact: none may remain in any store."""
        return sorted({v for p in self.placed for v in (p.raw, p.compact)})


@dataclass
class LookalikeCorpus:
    values: list[tuple[str, Any]] = field(default_factory=list)  # (kind, value)
    events: list[dict[str, Any]] = field(default_factory=list)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def format_card(number: str, style: str) -> str:
    """``plain``, ``spaces`` or ``dashes``; groups as printed (4-6-5 Amex, 4-6-4 Diners)."""
    if style == "plain":
        return number
    sep = " " if style == "spaces" else "-"
    if len(number) in (14, 15):
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return sep.join(groups)


def iban_number(rng: random.Random, country: str) -> str:
    layout = _BBAN[country]
    for _ in range(100_000):
        bban, size = "", ""
        for ch in layout:
            if ch.isdigit():
                size += ch
                continue
            alphabet = {"n": string.digits, "a": string.ascii_uppercase}.get(
                ch, string.digits + string.ascii_uppercase
            )
            bban += "".join(rng.choice(alphabet) for _ in range(int(size)))
            size = ""
        number = country + iban.calc_check_digits(country + "00" + bban) + bban
        if iban.is_valid(number):
            return number
    raise RuntimeError(f"no valid {country} IBAN generated")


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def ssn_number(rng: random.Random) -> str:
    while True:
        value = f"{rng.randint(1, 899):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        if ssn.is_valid(value):
            return value


def nik_number(rng: random.Random) -> str:
    while True:
        day = rng.randint(1, 28) + (40 if rng.random() < 0.5 else 0)
        value = (
            rng.choice(NIK_REGIONS)
            + _digits(rng, 2)
            + f"{day:02d}{rng.randint(1, 12):02d}{rng.randint(0, 99):02d}"
            + _digits(rng, 4)
        )
        if nik.is_valid(value):
            return value


def npwp_dotted(rng: random.Random) -> str:
    head = _digits(rng, 8)
    value = head + luhn.calc_check_digit(head) + _digits(rng, 6)
    assert npwp.is_valid(value)
    return f"{value[:2]}.{value[2:5]}.{value[5:8]}.{value[8]}-{value[9:12]}.{value[12:]}"


def pan_number(rng: random.Random) -> str:
    letters = string.ascii_uppercase
    value = (
        "".join(rng.choice(letters) for _ in range(3))
        + rng.choice(PAN_HOLDERS)
        + rng.choice(letters)
        + f"{rng.randint(1, 9999):04d}"
        + rng.choice(letters)
    )
    assert pan.is_valid(value)
    return value


def aadhaar_number(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(2, 9)) + _digits(rng, 10)
        value = body + verhoeff.calc_check_digit(body)
        if aadhaar.is_valid(value):
            return value


def _compact(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isalnum())


def _event(rng: random.Random, kind: str = "track") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "anonymousId": f"anon-{rng.randint(1, 10**6)}",
        "timestamp": "2026-01-01T11:59:58.123Z",
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
    }
    if kind == "track":
        event["event"] = "support_ticket_opened"
        event["properties"] = {"platform": "web", "session_id": f"s-{rng.randint(1, 999)}"}
    else:
        event["traits"] = {"plan": "free"}
    return event


def pii_corpus(seed: int = 13, rounds: int = 2) -> PiiCorpus:
    """Events and batches holding every kind of PII in every kind of place."""
    rng = random.Random(seed)
    corpus = PiiCorpus()

    def place(cls: str, raw: str, where: str) -> str:
        corpus.placed.append(Placed(cls, raw, _compact(raw), where))
        return raw

    for _ in range(rounds):
        for network, prefix, length in CARD_PREFIXES:
            number = card(rng, prefix, length)
            for style in ("plain", "spaces", "dashes"):
                raw = format_card(number, style)
                ev = _event(rng)
                spot = rng.choice(("card_number", "nested", "array", "text", "context"))
                where = f"{network}/{style}/{spot}"
                value = place("card", raw, where)
                if spot == "card_number":
                    ev["properties"]["card_number"] = value
                elif spot == "nested":
                    ev["properties"]["payment"] = {"method": "card", "details": {"pan": value}}
                elif spot == "array":
                    ev["properties"]["cards"] = ["none", value]
                elif spot == "text":
                    ev["properties"]["note"] = f"my card is {value} thanks"
                else:
                    ev["context"]["payment"] = {"card": value}
                corpus.events.append(ev)
            as_int = _event(rng)
            as_int["properties"]["card"] = int(place("card", number, f"{network}/int"))
            corpus.events.append(as_int)
        for country in IBAN_COUNTRIES:
            number = iban_number(rng, country)
            for raw in (number, spaced(number)):
                ev = _event(rng)
                ev["properties"]["payout"] = {"iban": place("iban", raw, country)}
                ev["properties"]["memo"] = f"transfer to {place('iban', raw, country + '/text')}"
                corpus.events.append(ev)
        for _ in range(3):
            dashed = ssn_number(rng)
            ident = _event(rng, "identify")
            ident["traits"]["tax"] = {"ssn": place("national_id", dashed, "traits/dashed")}
            ident["traits"]["ssn"] = place("national_id", dashed.replace("-", ""), "traits/ssn")
            corpus.events.append(ident)
            ev = _event(rng)
            ev["userId"] = place("national_id", ssn_number(rng), "userId/ssn")
            ev["properties"]["note"] = (
                f"SSN: {place('national_id', _compact(ssn_number(rng)), 'text/ssn')}"
            )
            corpus.events.append(ev)
            number = nik_number(rng)
            ev = _event(rng, "identify")
            ev["traits"]["nik"] = place("national_id", number, "traits/nik")
            ev["context"]["externalIds"] = [
                {"id": place("national_id", nik_number(rng), "externalIds/nik"), "type": "nik"},
                {"id": place("national_id", ssn_number(rng), "externalIds/ssn"), "type": "ssn"},
            ]
            corpus.events.append(ev)
            ev = _event(rng)
            ev["properties"]["kyc"] = {
                "npwp": place("national_id", npwp_dotted(rng), "npwp"),
                "pan": place("national_id", pan_number(rng), "pan"),
                "aadhaar": place("national_id", aadhaar_number(rng), "aadhaar"),
            }
            ktp = place("national_id", nik_number(rng), "text/nik")
            grouped = place("national_id", spaced(aadhaar_number(rng)), "text/aadhaar")
            ev["properties"]["note"] = f"KTP {ktp}, {grouped}"
            corpus.events.append(ev)
            ev = _event(rng)
            account = _digits(rng, 10)
            ev["properties"]["account_number"] = place("bank_account", account, "account_number")
            ev["properties"]["bank_account"] = {
                "bank": "BCA",
                "number": place(
                    "bank_account",
                    f"{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 4)}",
                    "nested",
                ),
            }
            ev["properties"]["note"] = (
                f"rekening BCA {place('bank_account', _digits(rng, 10), 'text')}"
            )
            ev["properties"]["noRek"] = int(place("bank_account", "1" + _digits(rng, 9), "int"))
            corpus.events.append(ev)
        batch_card = card(rng, "4", 16)
        corpus.batches.append(
            {
                "batch": [_event(rng), _event(rng, "identify")],
                "context": {
                    "library": {"name": "analytics-python", "version": "2.4.0"},
                    "payment": {"card": place("card", format_card(batch_card, "spaces"), "batch")},
                },
            }
        )
    return corpus


def _not_luhn(rng: random.Random, length: int) -> str:
    while True:
        value = str(rng.randint(1, 9)) + _digits(rng, length - 1)
        if not luhn.is_valid(value):
            return value


def _luhn_outside_iin(rng: random.Random) -> str:
    """Luhn-valid, but a prefix no network issues (0, 1, 7, 9 but Troy's 9792) or a length the
    prefix's network does not use (a 17-digit Visa, a 16-digit Amex)."""
    choice = rng.random()
    if choice < 0.6:
        first = rng.choice("0179")
        body = first + _digits(rng, rng.choice((13, 14, 15, 16, 17, 18)) - 1)
        if body.startswith("9792"):
            body = "9793" + body[4:]
    elif choice < 0.8:
        body = "4" + _digits(rng, 15)  # 17 digits with the check digit
    else:
        body = rng.choice(("34", "37")) + _digits(rng, 13)  # 16 digits with the check digit
    return body + luhn.calc_check_digit(body)


def _phone(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"+62 8{_digits(rng, 2)}-{_digits(rng, 4)}-{_digits(rng, 4)}"
    if kind == 1:
        return f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {_digits(rng, 4)}"
    if kind == 2:
        return f"+91 {rng.randint(6, 9)}{_digits(rng, 4)} {_digits(rng, 5)}"
    if kind == 3:
        return f"+628{_digits(rng, 10)}"
    if kind == 4:
        return f"08{_digits(rng, 2)}-{_digits(rng, 4)}-{_digits(rng, 4)}"
    return f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_digits(rng, 4)}"


def _bad_iban(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "ID" + _digits(rng, 20)  # Indonesia has no IBAN
    number = iban_number(rng, rng.choice(IBAN_COUNTRIES))
    while True:
        wrong = number[:2] + f"{rng.randint(2, 98):02d}" + number[4:]
        if not iban.is_valid(wrong):
            return wrong


def _bad_ssn(rng: random.Random) -> str:
    area = rng.choice(("000", "666", f"9{_digits(rng, 2)}", f"{rng.randint(1, 899):03d}"))
    group = "00" if area not in ("000", "666") and not area.startswith("9") else _digits(rng, 2)
    return f"{area}-{group}-{_digits(rng, 4)}"


LOOKALIKE_KINDS = (
    "order_id", "uuid", "ts_ms", "ts_s", "iso_time", "phone", "amount", "date", "zip",
    "version", "hex_id", "not_luhn_16", "not_luhn_16_spaced", "luhn_outside_iin", "bad_iban",
    "bad_ssn", "bad_pan", "sku", "ip", "nine_digits", "twelve_digits", "sentence",
)  # fmt: skip


def lookalike(rng: random.Random, kind: str) -> Any:
    """One look-alike value of ``kind``."""
    if kind == "order_id":
        return rng.choice(
            (
                f"ORD-2026-{_digits(rng, 6)}",
                f"INV-{_digits(rng, 8)}-{_digits(rng, 4)}",
                f"#{_digits(rng, 6)}",
                f"order_{_digits(rng, 12)}",
            )
        )
    if kind == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "ts_ms":
        ms = rng.randint(1_600_000_000_000, 1_900_000_000_000)
        return ms if rng.random() < 0.5 else str(ms)
    if kind == "ts_s":
        return rng.randint(1_600_000_000, 1_900_000_000)
    if kind == "iso_time":
        day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return f"{day}T10:{_digits(rng, 2)}:00.{_digits(rng, 6)}+00:00"
    if kind == "phone":
        return _phone(rng)
    if kind == "amount":
        return rng.choice(
            (
                round(rng.uniform(1, 10_000), 2),
                rng.randint(10_000, 500_000_000),
                f"Rp {rng.randint(1, 999)}.{_digits(rng, 3)}.{_digits(rng, 3)}",
                f"${rng.randint(1, 999)},{_digits(rng, 3)}.{_digits(rng, 2)}",
                f"{rng.randint(1000000, 99999999)}.{_digits(rng, 2)}",
            )
        )
    if kind == "date":
        y, m, d = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice((f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{y}{m:02d}{d:02d}"))
    if kind == "zip":
        return rng.choice(
            (f"{_digits(rng, 5)}", f"{_digits(rng, 5)}-{_digits(rng, 4)}", f"5{_digits(rng, 5)}")
        )
    if kind == "version":
        return f"{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
    if kind == "hex_id":
        return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((16, 24, 32, 40))))
    if kind == "not_luhn_16":
        return _not_luhn(rng, 16)
    if kind == "not_luhn_16_spaced":
        return format_card(_not_luhn(rng, 16), rng.choice(("spaces", "dashes")))
    if kind == "luhn_outside_iin":
        return _luhn_outside_iin(rng)
    if kind == "bad_iban":
        return _bad_iban(rng)
    if kind == "bad_ssn":
        return _bad_ssn(rng)
    if kind == "bad_pan":
        letters = string.ascii_uppercase
        return (
            "".join(rng.choice(letters) for _ in range(3))
            + rng.choice("DEIMNOQRSUVWXYZ")
            + rng.choice(letters)
            + _digits(rng, 4)
            + rng.choice(letters)
        )
    if kind == "sku":
        return f"SKU-{_digits(rng, 5)}-{rng.choice(('XS', 'M', 'XL'))}"
    if kind == "ip":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if kind == "nine_digits":
        return _digits(rng, 9)
    if kind == "twelve_digits":
        return str(rng.randint(2, 9)) + _digits(rng, 11)
    ms = rng.randint(1_600_000_000_000, 1_900_000_000_000)
    balance = rng.randint(100000, 9999999)
    return rng.choice(
        (
            f"Order ORD-{_digits(rng, 6)} shipped to {_digits(rng, 5)} at {ms}",
            f"Call me at {_phone(rng)} about my account balance of {balance}",
            f"Transfer of Rp {rng.randint(1, 999)}.{_digits(rng, 3)}.000 done, ref {ms}",
            f"account #{rng.randint(1, 9)} of {rng.randint(2, 9)}, v{rng.randint(1, 9)}.0",
        )
    )


def lookalike_corpus(seed: int = 13, per_kind: int = 150) -> LookalikeCorpus:
    """``per_kind`` values of every look-alike kind, and events carrying them under ordinary
    field names (never a PII keyword), nested and in arrays too."""
    rng = random.Random(seed)
    corpus = LookalikeCorpus()
    for kind in LOOKALIKE_KINDS:
        for i in range(per_kind):
            value = lookalike(rng, kind)
            corpus.values.append((kind, value))
            ev = _event(rng)
            spot = i % 4
            if spot == 0:
                ev["properties"][kind] = value
            elif spot == 1:
                ev["properties"]["details"] = {kind: value, "account_type": "savings"}
            elif spot == 2:
                ev["properties"]["items"] = [{"ref": value}, value]
            else:
                ev["context"]["extra"] = {kind: value}
                ev["properties"]["account_balance"] = rng.randint(100_000, 9_999_999)
                ev["properties"]["account_id"] = f"acc_{_digits(rng, 8)}"
            corpus.events.append(ev)
    return corpus
