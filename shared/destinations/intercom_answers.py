"""What Intercom's answers say: the id of the object an answer is about (a 409 names the
existing contact's), its first error message, and the data attributes a listing holds."""

from __future__ import annotations

import json
import re
from typing import Any

from shared.ports.http import HttpResponse

EXISTING_ID = re.compile(r"id=([A-Za-z0-9_-]+)")


def declared(response: HttpResponse, model: str) -> set[str]:
    """The names of the data attributes a listing answer holds for ``model``."""
    body = json_of(response.body)
    data = body.get("data") if isinstance(body, dict) else None
    return {str(d.get("name")) for d in data or [] if isinstance(d, dict)
            and d.get("model", model) == model}  # fmt: skip


def json_of(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def message_of(response: HttpResponse) -> str:
    body = json_of(response.body)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    return response.body[:200].decode(errors="replace")


def answered_id(response: HttpResponse) -> str | None:
    """Intercom's id of what the answer is about: the created or updated object's ``id``, or the
    existing contact a 409 names (``... already exists with id=<id>``)."""
    if 200 <= response.status < 300:
        body = json_of(response.body)
        found = body.get("id") if isinstance(body, dict) else None
        return str(found) if found else None
    if response.status == 409:
        matched = EXISTING_ID.search(message_of(response))
        return matched.group(1) if matched else None
    return None
