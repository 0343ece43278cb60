"""Whether a stored event's JSON is the person's: its identifier fields, parsed, compared to the
person's values, the way identity reads an event (``shared/identity/identifiers.py``).

A search for the value anywhere in the text is wrong both ways: ``user_id:42`` would find
someone else's ``"size":"42"``, and would miss ``"userId":12345`` (a number), ``"jos\\u00e9"``
(ingest writes failed payloads with ``ensure_ascii``) and a phone as it was sent
(``0812 3456 7890``) rather than as identity stores it (``+6281234567890``). Parsing the
payload in BigQuery (``SAFE.PARSE_JSON``: NULL for a payload that is not JSON) settles all
three: ``JSON_VALUE`` unescapes strings and gives numbers as their text.

    ids      every value of the person, lowercased, compared to each identifier field
             (lowercased and trimmed, as identity normalises emails and device ids)
    phones   the digits of each phone in the forms it may have been sent in (international,
             national with its prefix, national significant number), compared to the digits
             of the payload's phone fields
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.governance.privacy.audit import Person

ID_PATHS = (
    "$.userId",
    "$.anonymousId",
    "$.previousId",
    "$.traits.email",
    "$.context.traits.email",
    "$.context.device.id",
    "$.context.device.advertisingId",
    '$.integrations."Google Analytics".clientId',
    '$.integrations."Google Analytics 4".clientId',
)
PHONE_PATHS = ("$.traits.phone", "$.context.traits.phone")
EXTERNAL_IDS = "$.context.externalIds"


def params(person: Person) -> dict[str, list[str]]:
    """``ids`` and ``phones`` for ``condition`` (either may be empty: then leave its term out)."""
    values = {v for vs in person.identifiers.values() for v in vs}
    phones = {form for p in person.values("phone") for form in phone_forms(p)}
    return {"ids": sorted({v.lower() for v in values}), "phones": sorted(phones)}


def phone_forms(e164: str) -> set[str]:
    """The digits of a stored phone in each form it may have been sent in."""
    import phonenumbers

    digits = {_digits(e164)}
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return digits - {""}
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits |= {_digits(national), str(phonenumbers.national_significant_number(number))}
    return digits - {""}


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def condition(json_expr: str, wanted: Mapping[str, Sequence[str]], prefix: str = "") -> str:
    """SQL true when the JSON value ``json_expr`` names the person in an identifier field;
    parameters ``@{prefix}ids`` and ``@{prefix}phones`` ("" when both are empty)."""
    ids, phones = f"@{prefix}ids", f"@{prefix}phones"
    terms = []
    if wanted.get("ids"):
        fields = ", ".join(f"JSON_VALUE({json_expr}, '{p}')" for p in ID_PATHS)
        terms.append(f"EXISTS(SELECT 1 FROM UNNEST([{fields}]) AS x "
                     f"WHERE LOWER(TRIM(x)) IN UNNEST({ids}))")  # fmt: skip
        terms.append(
            f"EXISTS(SELECT 1 FROM UNNEST(JSON_QUERY_ARRAY({json_expr}, '{EXTERNAL_IDS}')) AS e "
            f"WHERE LOWER(TRIM(JSON_VALUE(e, '$.id'))) IN UNNEST({ids}))"
        )
    if wanted.get("phones"):
        fields = ", ".join(f"JSON_VALUE({json_expr}, '{p}')" for p in PHONE_PATHS)
        terms.append(f"EXISTS(SELECT 1 FROM UNNEST([{fields}]) AS x "
                     f"WHERE REGEXP_REPLACE(x, r'[^0-9]', '') IN UNNEST({phones}))")  # fmt: skip
    return " OR ".join(terms)


def of_string(column: str) -> str:
    """The JSON expression of a STRING column holding JSON text."""
    return f"SAFE.PARSE_JSON({column})"
