"""Table tests per detector: what each class catches, and the look-alikes beside it it leaves."""

from __future__ import annotations

import pytest

from shared.governance.pii_cards import find_cards, layout_ok, network
from shared.governance.pii_keywords import DEFAULT_KEYWORDS, classes_for_name, text_pattern
from shared.governance.pii_scan import Scanner

SCAN = Scanner(DEFAULT_KEYWORDS)


def found(text: str, keyed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    return [(s.cls, s.value) for s in SCAN.spans(text, keyed)]


@pytest.mark.parametrize(
    ("number", "net"),
    [
        ("4111111111111111", "visa"),
        ("4012888888881881", "visa"),
        ("4222222222222", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        ("6011111111111117", "discover"),
        ("6011000990139424", "discover"),
        ("3530111333300000", "jcb"),
        ("3566002020360505", "jcb"),
        ("6200000000000005", "unionpay"),
        ("36227206271667", "diners"),
        ("30569309025904", "diners"),
        ("6759649826438453", "maestro"),
        ("2200000000000004", "mir"),
        ("5085000000000007", "rupay"),
        ("9792000000000003", "troy"),
    ],
)
def test_cards_of_every_network_in_every_layout(number: str, net: str) -> None:
    assert network(number) == net
    if len(number) in (14, 15):
        grouped = [number[:4], number[4:10], number[10:]]
    else:
        grouped = [number[i : i + 4] for i in range(0, len(number), 4)]
    for written in (number, " ".join(grouped), "-".join(grouped)):
        assert found(written) == [("card", number)], written
        assert found(f"my card is {written} thanks") == [("card", number)]


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn fails
        "1767268798000",  # a millisecond timestamp
        "1767268798000123",  # microseconds
        "7000000000000002",  # Luhn-valid, no network starts with 7
        "41111111111111111",  # Luhn-valid Visa prefix at 17 digits, a length Visa never uses
        "3782822463100050",  # Amex prefix at 16 digits
        "41 11 11 11 11 11 11 11",  # pairs: not a card layout
        "4111 11111 1111 111",  # nor is 4-5-4-3
        "+62 812-3456-7890",
        "+91 98765 43210",
        "order 12345678901234567890123",  # too long to be one card
        "GB69NFGA50381131111786",  # an IBAN's digits: glued to letters, no card
        "ORD4111111111111111",
    ],
)
def test_card_look_alikes(text: str) -> None:
    assert [c for c, _ in found(text) if c == "card"] == []


def test_card_after_a_quantity_and_mixed_separators() -> None:
    assert list(find_cards("2x 4111 1111 1111 1111")) == [(3, 22, "4111111111111111")]
    assert [v for _, _, v in find_cards("4111 1111-1111 1111")] == ["4111111111111111"]


@pytest.mark.parametrize(
    ("groups", "ok"),
    [
        (["4111"], True),
        (["4111", "1111", "1111", "1111"], True),
        (["3782", "822463", "10005"], True),
        (["4111", "1111", "1111", "1"], True),
        (["41", "11"], False),
        (["4111", "11111", "1111"], False),
    ],
)
def test_card_layouts(groups: list[str], ok: bool) -> None:
    assert layout_ok(groups) is ok


@pytest.mark.parametrize(
    "number",
    [
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "ES9121000418450200051332",
    ],
)
def test_ibans_with_and_without_spaces(number: str) -> None:
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    for written in (number, spaced, f"pay to {spaced} BIC COBADEFFXXX please"):
        assert found(written) == [("iban", number)], written


@pytest.mark.parametrize(
    "text",
    [
        "DE00370400440532013000",  # mod-97 fails
        "DE8937040044053201300",  # one digit short for Germany
        "ID12345678901234567890",  # Indonesia has no IBAN
        "de89370400440532013000",  # lower case is not read as an IBAN
    ],
)
def test_iban_look_alikes(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "keyed", "expected"),
    [
        ("123-45-6789", (), [("national_id", "123456789")]),
        ("his ssn is 123-45-6789.", (), [("national_id", "123456789")]),
        ("123456789", ("national_id",), [("national_id", "123456789")]),
        ("SSN: 123456789", (), [("national_id", "123456789")]),
        ("123456789", (), []),  # undashed, no keyword
        ("666-12-3456", (), []),  # never issued
        ("000-12-3456", (), []),
        ("912-34-5678", (), []),  # 9xx: ITINs and advertising
        ("123-00-4567", (), []),
        ("078-05-1120", (), []),  # the Woolworth wallet card
        ("2024-123-45-6789", (), []),  # part of a longer dashed id
        ("3171015708450001", ("national_id",), [("national_id", "3171015708450001")]),
        ("NIK 3171015708450001", (), [("national_id", "3171015708450001")]),
        ("3171015708450001", (), []),  # a NIK's structure alone is too weak
        ("9971011708450001", ("national_id",), []),  # no such province
        ("01.312.166.0-091.000", (), [("national_id", "013121660091000")]),
        ("013121660091000", ("national_id",), [("national_id", "013121660091000")]),
        ("013121660091000", (), []),
        ("AAAPL1234C", (), [("national_id", "AAAPL1234C")]),
        ("pan ABCPE1234F.", (), [("national_id", "ABCPE1234F")]),
        ("ABCDE1234F", (), []),  # D is no holder type
        ("AAAPL0000C", (), []),
        ("2341 2341 2346", (), [("national_id", "234123412346")]),
        ("234123412346", ("national_id",), [("national_id", "234123412346")]),
        ("aadhaar no 234123412346", (), [("national_id", "234123412346")]),
        ("234123412346", (), []),  # plain 12 digits: Verhoeff alone passes 1 in 10
        ("2341 2341 2347", (), []),  # Verhoeff fails
        ("7ec9d13a-3466-4308-9409-d04461f391ec", (), []),  # a UUID's middle groups
    ],
)
def test_national_ids(text: str, keyed: tuple[str, ...], expected: list[tuple[str, str]]) -> None:
    assert found(text, frozenset(keyed)) == expected


@pytest.mark.parametrize(
    ("text", "keyed", "expected"),
    [
        ("1234567890", ("bank_account",), ["1234567890"]),
        ("123-456-7890", ("bank_account",), ["1234567890"]),
        ("BCA 0123 4567 89", ("bank_account",), ["0123456789"]),
        ("my account number is 1234567890", (), ["1234567890"]),
        ("rekening BCA 1234567890", (), ["1234567890"]),
        ("No. Rek: 1234567890", (), ["1234567890"]),
        ("acct #99887766", (), ["99887766"]),
        ("1234567890", (), []),  # no keyword
        ("account balance is 1500000", (), []),  # the keyword names another word
        ("12345", ("bank_account",), []),  # too short for an account number
        ("12-34-56", ("bank_account",), []),  # a sort code's short groups
        ("1500000.50", ("bank_account",), []),  # a decimal
        ("s-1767268798", ("bank_account",), []),  # dash-joined to a word: an id
        ("INV1234567", ("bank_account",), []),  # glued to letters
    ],
)
def test_bank_accounts(text: str, keyed: tuple[str, ...], expected: list[str]) -> None:
    spans = SCAN.spans(text, frozenset(keyed))
    assert [s.value for s in spans if s.cls == "bank_account"] == expected


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("account", {"bank_account"}),
        ("account_number", {"bank_account"}),
        ("accountNumber", {"bank_account"}),
        ("bank_account", {"bank_account"}),
        ("destinationAccountNo", {"bank_account"}),
        ("accounts", {"bank_account"}),
        ("noRek", {"bank_account"}),
        ("norek", {"bank_account"}),
        ("routing_number", {"bank_account"}),
        ("iban", {"bank_account"}),
        ("account_balance", set()),
        ("account_id", set()),
        ("account_type", set()),
        ("discount", set()),
        ("ssn", {"national_id"}),
        ("customer_ssn", {"national_id"}),
        ("ssn_last4", set()),
        ("nik", {"national_id"}),
        ("id_number", {"national_id"}),
        ("setting", set()),
        ("messageId", set()),
    ],
)
def test_field_names(name: str, classes: set[str]) -> None:
    assert classes_for_name(name, DEFAULT_KEYWORDS) == classes


@pytest.mark.parametrize(
    ("before", "hit"),
    [
        ("my account number is ", True),
        ("ACCOUNT NO. ", True),
        ("rekening BCA ", True),
        ("account balance is ", False),
        ("bank_account_linked ", False),
        ("accountant ", False),
    ],
)
def test_free_text_keyword(before: str, hit: bool) -> None:
    assert bool(text_pattern(DEFAULT_KEYWORDS["bank_account"]).search(before)) is hit
