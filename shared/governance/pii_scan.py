"""Finding PII in one value, and walking an event's structure to every value.

The walk visits every value of the event — properties, traits, context, identifiers
(``userId``, ``context.externalIds[].id``...), nested objects and arrays at any depth — but
never a key: a key is only the keyword context of the values under it. Strings are scanned as
free text (a whole-value number is the case where the match is the whole string); integers as
their decimal digits (a card sent as a JSON number is a card), and so are floats with no
fraction (``4111111111111111.0``, or ``4.111111111111111e15`` as a client wrote it: stored, it
shows the same digits, up to 1e16, where JSON switches to an exponent). Other floats and
booleans cannot carry these numbers and are left alone.

The walk copies only along the paths that change, so a clean event comes back as the very
object it was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.governance import pii_cards, pii_numbers
from shared.governance.pii_keywords import CONTEXTLESS, classes_for_name, text_pattern

CLASSES = ("card", "iban", "bank_account", "national_id")
GATED = ("national_id", "bank_account")
_WINDOW = 48  # characters before a number searched for its keyword
# Every detector's shape holds one of these (the pre-scan's literals): strings without any
# (most of them: names, slugs, timestamps) are skipped in one search.
_MAYBE = re.compile(
    r"[0-9]{6}|[0-9]{3}[ -][0-9]{3}|[0-9]{2}[ -][0-9]{4}|[A-Z]{2}[0-9]{2}|\.[0-9]{3}\.[0-9]{3}\."
)


class Span(NamedTuple):
    """A detected number inside one string: where, its class, its compact form."""

    start: int
    end: int
    cls: str
    value: str


# Replaces one span: (class, compact value, path of the value) → the text written instead.
Rewrite = Callable[[str, str, str], str]


def _ungated(text: str) -> Iterator[Span]:
    for start, end, value in pii_cards.find_cards(text):
        yield Span(start, end, "card", value)
    for start, end, value in pii_numbers.find_ibans(text):
        yield Span(start, end, "iban", value)
    for find in pii_numbers.UNGATED_NATIONAL_ID:
        for start, end, value in find(text):
            yield Span(start, end, "national_id", value)


_GATED_CHECK: dict[str, Callable[[str], bool]] = {
    "national_id": pii_numbers.is_gated_national_id,
    "bank_account": pii_numbers.is_bank_account,
}


@dataclass
class Scanner:
    """Finds spans in strings and walks structures, for one set of keyword lists."""

    keywords: dict[str, tuple[str, ...]]
    _text: dict[str, re.Pattern[str]] = field(init=False)
    _names: dict[str, frozenset[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._text = {cls: text_pattern(kws) for cls, kws in self.keywords.items() if kws}

    def named(self, name: str) -> frozenset[str]:
        """The gated classes a field name speaks for (memoised: names repeat endlessly)."""
        found = self._names.get(name)
        if found is None:
            if len(self._names) > 10_000:
                self._names.clear()
            found = self._names[name] = classes_for_name(name, self.keywords)
        return found

    def spans(self, text: str, keyed: frozenset[str]) -> list[Span]:
        """Non-overlapping spans in ``text``, earlier detectors first (card, iban, national
        ids, then the keyword-gated ones), for a value under a field naming ``keyed``."""
        if len(text) < 6 or not _MAYBE.search(text):
            return []
        found = list(_ungated(text))
        for start, end, digits in pii_numbers.number_runs(text):
            for cls in GATED:
                if not _GATED_CHECK[cls](digits):
                    continue
                pattern = self._text.get(cls)
                before = text[max(0, start - _WINDOW) : start]
                if cls in keyed or (pattern is not None and pattern.search(before)):
                    found.append(Span(start, end, cls, digits))
                    break
        kept: list[Span] = []
        for span in found:
            if all(span.end <= k.start or span.start >= k.end for k in kept):
                kept.append(span)
        return sorted(kept)

    def walk(self, value: Any, path: str, keyed: frozenset[str], rewrite: Rewrite) -> Any:
        """``value`` with every span rewritten (the same object where nothing was found)."""
        if isinstance(value, str):
            return self._string(value, path, keyed, rewrite)
        if type(value) is float:  # from 1e16 up, JSON writes an exponent: no run of digits
            if not (100_000 <= abs(value) < 1e16 and value.is_integer()):
                return value
            whole = int(value)
            changed = self.walk(whole, path, keyed, rewrite)
            return value if changed is whole else changed
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
            if len(text) < 6:
                return value
            changed = self._string(text, path, keyed, rewrite)
            return value if changed is text else changed
        if isinstance(value, Mapping):
            return self._object(value, path, keyed, rewrite)
        if isinstance(value, list):
            out: list[Any] | None = None
            for i, item in enumerate(value):
                new = self.walk(item, f"{path}[{i}]", keyed, rewrite)
                if new is not item:
                    out = out if out is not None else list(value)
                    out[i] = new
            return value if out is None else out
        return value

    def _object(
        self, value: Mapping[str, Any], path: str, keyed: frozenset[str], rewrite: Rewrite
    ) -> Any:
        out: dict[str, Any] | None = None
        kind = value.get("type")
        for key, item in value.items():
            if isinstance(item, bool) or item is None:
                continue
            context = self.named(key)
            if key.lower() in CONTEXTLESS:
                context = context | keyed
                if key == "id" and isinstance(kind, str):
                    context = context | self.named(kind)
            new = self.walk(item, f"{path}.{key}" if path else key, context, rewrite)
            if new is not item:
                out = out if out is not None else dict(value)
                out[key] = new
        return self._keys(value if out is None else out, path, rewrite)

    def _keys(self, value: Mapping[str, Any], path: str, rewrite: Rewrite) -> Any:
        """``value`` with any key that holds a detection rewritten (a card used as a property
        name is stored as one). Its path says where, never what: ``<path>.<key>``."""
        renamed: dict[str, str] = {}
        for key in value:
            if len(key) >= 6 and not key.isalpha():
                new_key = self._string(
                    key, f"{path}.<key>" if path else "<key>", frozenset(), rewrite
                )
                if new_key != key:
                    renamed[key] = new_key
        if not renamed:
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            new_key = renamed.get(key, key)
            while new_key in out:  # two masks alike (same last four): keep both values
                new_key += "~"
            out[new_key] = item
        return out

    def _string(self, text: str, path: str, keyed: frozenset[str], rewrite: Rewrite) -> str:
        spans = self.spans(text, keyed)
        if not spans:
            return text
        parts: list[str] = []
        at = 0
        for span in spans:
            parts.append(text[at : span.start])
            parts.append(rewrite(span.cls, span.value, path))
            at = span.end
        parts.append(text[at:])
        return "".join(parts)
