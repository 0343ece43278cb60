"""Payment card numbers: Luhn AND a network's IIN range AND that network's lengths.

Luhn alone accepts one random number in ten, so a 16-digit order id would be "a card" one time
in ten; a prefix the networks actually issue, at a length they issue it, is what makes a number
a card. The ranges are the networks' published IIN ranges (ISO/IEC 7812). No network here
issues a prefix 1 or 7 (UATP's airline cards, prefix 1, are left out on purpose: millisecond
and microsecond timestamps start with 1).

Written cards are either one unbroken run of digits or groups joined by single spaces or dashes
(mixed too: people type them so) in the layouts printed on cards (4-4-4-4, 4-4-4-4-3, 4-6-5,
4-6-4, ...). Requiring a layout keeps "items 4 12 55 ..." from being read as one number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stdnum import luhn


@dataclass(frozen=True)
class Network:
    """A card network's IIN ranges (inclusive, as equal-length prefixes) and lengths."""

    name: str
    ranges: tuple[tuple[int, int], ...]
    lengths: tuple[int, ...]


_19 = tuple(range(16, 20))
_MAESTRO = (
    (5018, 5018),
    (5020, 5020),
    (5038, 5038),
    (5893, 5893),
    (6304, 6304),
    (6759, 6759),
    (6761, 6763),
)

NETWORKS: tuple[Network, ...] = (
    Network("visa", ((4, 4),), (13, 16, 19)),
    Network("mastercard", ((51, 55), (2221, 2720)), (16,)),
    Network("amex", ((34, 34), (37, 37)), (15,)),
    Network("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), _19),
    Network("jcb", ((3528, 3589),), _19),
    Network("unionpay", ((62, 62), (8100, 8171)), _19),
    Network("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    Network("maestro", _MAESTRO, tuple(range(13, 20))),
    Network("mir", ((2200, 2204),), _19),
    Network("rupay", ((60, 60), (65, 65), (81, 82), (508, 508), (353, 353), (356, 356)), (16,)),
    Network("verve", ((506099, 506198), (650002, 650027)), (16, 18, 19)),
    Network("troy", ((9792, 9792),), (16,)),
    Network("dankort", ((5019, 5019),), (16,)),
)

MIN_DIGITS = 13
MAX_DIGITS = 19

# Maximal runs of 13+ digits joined by single spaces or dashes, not glued to letters (the digits
# of an IBAN, a hex id or "ORD50381131111786" are no card); windows inside a run are tried
# (a card may follow a quantity: "2x 4111 1111 1111 1111" reads as the run "2 4111 ...").
RUN = re.compile(r"(?<![0-9A-Za-z])[0-9](?:[ -]?[0-9]){12,}(?![0-9A-Za-z])")
_DIGITS = re.compile(r"[0-9]+")


def _first_digits() -> frozenset[str]:
    return frozenset(str(lo)[0] for net in NETWORKS for lo, _ in net.ranges)


FIRST_DIGITS = _first_digits()  # no network starts with 0, 1 or 7: timestamps fail fast


def network(digits: str) -> str | None:
    """The network whose ranges and lengths admit ``digits`` (already Luhn-checked or not)."""
    if not digits or digits[0] not in FIRST_DIGITS:
        return None
    for net in NETWORKS:
        if len(digits) not in net.lengths:
            continue
        for lo, hi in net.ranges:
            width = len(str(lo))
            if lo <= int(digits[:width]) <= hi:
                return net.name
    return None


def is_card(digits: str) -> bool:
    """Whether a bare digit string is a card number: IIN range and length, then Luhn."""
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS
        and network(digits) is not None
        and luhn.is_valid(digits)
    )


def layout_ok(groups: list[str]) -> bool:
    """Whether digit groups follow a layout printed on cards (one group: unbroken digits)."""
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    if sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return len(sizes) >= 3 and all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _cards_in_run(run: str, offset: int) -> Iterator[tuple[int, int, str]]:
    """Cards among a run's group-aligned windows, the longest at each start, left to right."""
    spans = [(m.start(), m.end()) for m in _DIGITS.finditer(run)]
    if not any(run[a] in FIRST_DIGITS for a, _ in spans):
        return
    i = 0
    while i < len(spans):
        best: tuple[int, str] | None = None
        count = 0
        for j in range(i, len(spans)):
            count += spans[j][1] - spans[j][0]
            if count > MAX_DIGITS:
                break
            groups = [run[a:b] for a, b in spans[i : j + 1]]
            if count >= MIN_DIGITS and layout_ok(groups) and is_card("".join(groups)):
                best = (j, "".join(groups))
        if best is None:
            i += 1
            continue
        yield offset + spans[i][0], offset + spans[best[0]][1], best[1]
        i = best[0] + 1


def find_cards(text: str) -> Iterator[tuple[int, int, str]]:
    """Card numbers in ``text``: (start, end, digits), non-overlapping, left to right."""
    for run in RUN.finditer(text):
        yield from _cards_in_run(run.group(), run.start())
