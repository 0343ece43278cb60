"""Intercom's contact search, as the Intercom stand-in answers it: a query is a filter
``{field, operator, value}`` or a group ``{operator: "AND" | "OR", value: [...]}``; Intercom
allows at most 15 filters in a group and 2 levels of nesting, and ``pagination.per_page`` up to
150. The stand-in searches the fields the platform's contacts carry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BAD_QUERY = "query must be a filter {field, operator, value} or a group {operator, value}"
TOO_MANY_FILTERS = "a group holds at most 15 filters, nested at most 2 levels"
BAD_PAGE = "pagination.per_page is 1 to 150"
MAX_FILTERS, MAX_PER_PAGE, MAX_DEPTH = 15, 150, 2
FIELDS = frozenset({"id", "external_id", "email", "role", "name", "phone"})
OPERATORS = frozenset({"=", "!=", "IN", "NIN", "~", "^", "$"})


def search(contacts: Iterable[Mapping[str, Any]], payload: Mapping[str, Any]) -> tuple[int, Any]:
    """``POST /contacts/search``: (200, the list answer) or (400, Intercom's message)."""
    query, page = payload.get("query"), payload.get("pagination") or {}
    per_page = page.get("per_page", 50) if isinstance(page, dict) else None
    if not isinstance(per_page, int) or not 0 < per_page <= MAX_PER_PAGE:
        return 400, BAD_PAGE
    problem = query_problem(query, 1)
    if problem or not isinstance(query, dict):
        return 400, problem or BAD_QUERY
    found = [c for c in contacts if matches(c, query)]
    pages = {"type": "pages", "page": 1, "per_page": per_page,
             "total_pages": max(1, -(-len(found) // per_page))}  # fmt: skip
    return 200, {"type": "list", "data": found[:per_page], "total_count": len(found),
                 "pages": pages}  # fmt: skip


def query_problem(query: Any, depth: int) -> str:
    """Why Intercom would refuse a search query ("" when it is valid)."""
    if not isinstance(query, dict):
        return BAD_QUERY
    if query.get("operator") in ("AND", "OR"):
        group = query.get("value")
        if not isinstance(group, list) or not group:
            return BAD_QUERY
        if len(group) > MAX_FILTERS or depth > MAX_DEPTH:
            return TOO_MANY_FILTERS
        return next((p for p in (query_problem(q, depth + 1) for q in group) if p), "")
    if query.get("field") not in FIELDS or query.get("operator") not in OPERATORS:
        return BAD_QUERY
    return "" if "value" in query else BAD_QUERY


def matches(contact: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    if query.get("operator") in ("AND", "OR"):
        results = [matches(contact, q) for q in query["value"]]
        return all(results) if query["operator"] == "AND" else any(results)
    return compared(query["operator"], contact.get(query["field"]), query["value"])


def compared(operator: str, have: Any, want: Any) -> bool:
    text = isinstance(have, str)
    listed = isinstance(want, list)
    found = {
        "=": have == want,
        "!=": have != want,
        "IN": listed and have in want,
        "NIN": listed and have not in want,
        "~": text and str(want) in have,
        "^": text and have.startswith(str(want)),
        "$": text and have.endswith(str(want)),
    }
    return bool(found[operator])
