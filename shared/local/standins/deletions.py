"""The deletion calls a stand-in answered, kept apart from the events it delivered.

A stand-in's ``check`` answers a deletion with ``Reply(..., delivered=(deletion(...),))``; the
shared server keeps delivered entries only when the request passed its checks and no fault was
injected, so after ``receive`` the stand-in moves them from ``delivered`` (events, which tests
count) to ``deletions``, listed by ``GET /_standin`` as ``"deletions"``. An end-to-end test
reads there what each provider was asked to forget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MARK = "deletion"


def deletion(key: str, **fields: Any) -> dict[str, Any]:
    """One deletion call, as a ``Reply.delivered`` entry."""
    return {MARK: True, "key": key, **fields}


def split(delivered: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events, deletions) of a stand-in's delivered entries; deletions lose their mark."""
    events, deletions = [], []
    for entry in delivered:
        if entry.get(MARK) is True:
            deletions.append({k: v for k, v in entry.items() if k != MARK})
        else:
            events.append(entry)
    return events, deletions
