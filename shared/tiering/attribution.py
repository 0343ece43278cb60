"""First-touch attribution: what brought a person in, taken from their earliest event.

Written for each promoted anonymous id as ``attribution/{anonymous_id}`` (once; later sweeps
never overwrite it), where identity reads it onto the profile (``first_touch``). ``first_touch``
is pure: UTM parameters from ``context.campaign`` or, failing that, the landing page's query
string; the referrer; the landing page; when it was first seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.ports.documents import DocumentStore, create_missing
from shared.tiering.state import doc_id

ATTRIBUTION = "attribution"
UTM = ("source", "medium", "campaign", "term", "content")
CAMPAIGN_FIELDS = {"campaign": "name"}  # Segment's context.campaign calls utm_campaign 'name'
CHUNK = 200  # documents per transaction (Firestore allows 500 writes)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def first_touch(
    anonymous_id: str, event: dict[str, Any] | str, user_id: str | None = None
) -> dict[str, Any]:
    """The attribution document for ``anonymous_id`` whose earliest event is ``event``."""
    if isinstance(event, str):
        event = json.loads(event)
    if not isinstance(event, dict):
        event = {}
    context = event.get("context") or {}
    page = context.get("page") or {}
    properties = event.get("properties") or {}
    landing = _text(properties.get("url")) or _text(page.get("url"))
    if landing is None:
        path = _text(properties.get("path")) or _text(page.get("path"))
        landing = path
    query = parse_qs(urlsplit(landing).query) if landing else {}
    campaign = context.get("campaign") or {}
    utm: dict[str, str | None] = {}
    for field in UTM:
        from_context = _text(campaign.get(CAMPAIGN_FIELDS.get(field, field)))
        from_url = next(iter(query.get(f"utm_{field}") or []), None)
        utm[f"utm_{field}"] = from_context or from_url
    return {
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        **utm,
        "referrer": _text(properties.get("referrer")) or _text(page.get("referrer")),
        "landing_page": landing,
        "first_seen": _text(event.get("timestamp")) or _text(event.get("receivedAt")),
        "first_event_type": _text(event.get("type")),
        "first_message_id": _text(event.get("messageId")),
    }


def record_missing(store: DocumentStore, touches: Sequence[dict[str, Any]]) -> int:
    """Create the attribution documents that do not exist yet; returns how many were new."""
    created = 0
    for start in range(0, len(touches), CHUNK):
        chunk = {doc_id(t["anonymous_id"]): t for t in touches[start : start + CHUNK]}
        created += len(create_missing(store, ATTRIBUTION, chunk))
    return created


def find(store: DocumentStore, anonymous_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Attribution documents of these ids (batched reads), by anonymous id."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(anonymous_ids), CHUNK):
        ids = anonymous_ids[start : start + CHUNK]
        docs = store.get_all([(ATTRIBUTION, doc_id(a)) for a in ids])
        found.update({a: d for a in ids if (d := docs[(ATTRIBUTION, doc_id(a))]) is not None})
    return found
