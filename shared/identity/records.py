"""The profile document, and how events and merges change it: pure functions, so a replay, a
reordering or a retried transaction all reach the same document.

    profiles/{id} → profile_id, identifiers {type: [values]}, traits {name: {value, at, source,
                    message_id, by}}, first_seen, last_seen (to the hour), consent {category:
                    {value, at, source}}, first_touch {at, campaign, referrer, landing_page,
                    message_id}, claimed [device-like identifier keys seen in one event with the
                    profile's userId], evidence [...], conflicts [...], unmerged [...]
                 or, once absorbed by a merge, only a forwarding pointer:
                    profile_id, merged_into, merged_at, message_id

Traits, consent and first-touch keep the value of the latest (first-touch: earliest) event
*timestamp*, not arrival order. A root profile lists exactly the identifiers that resolve to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.identity.identifiers import Identifier

Doc = dict[str, Any]


def iso(text: Any) -> str:
    """Event times compare as text only in one format: UTC with milliseconds."""
    raw = str(text or "")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time(event: Mapping[str, Any]) -> str:
    return iso(event.get("timestamp") or event.get("receivedAt") or "")


def new_profile(profile_id: str, at: str) -> Doc:
    return {"profile_id": profile_id, "identifiers": {}, "created_at": at}


def is_forwarded(doc: Mapping[str, Any] | None) -> bool:
    return bool(doc and doc.get("merged_into"))


def forwarding(profile_id: str, into: str, at: str, message_id: str) -> Doc:
    return {
        "profile_id": profile_id,
        "merged_into": into,
        "merged_at": at,
        "message_id": message_id,
    }


def holds(profile: Mapping[str, Any]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in (profile.get("identifiers") or {}).items()}


def identifier_set(profile: Mapping[str, Any]) -> set[Identifier]:
    return {Identifier(k, v) for k, values in holds(profile).items() for v in values}


def with_identifiers(profile: Doc, identifiers: Iterable[Identifier]) -> Doc:
    by_type = holds(profile)
    for identifier in identifiers:
        by_type[identifier.type] = sorted({*by_type.get(identifier.type, []), identifier.value})
    return {**profile, "identifiers": by_type}


def _storable(name: Any) -> bool:
    """A field name a document can hold (not empty, not reserved like ``__name__``)."""
    return (
        isinstance(name, str) and bool(name) and not (name.startswith("__") and name.endswith("__"))
    )


def traits_of(event: Mapping[str, Any]) -> dict[str, Any]:
    context = event.get("context") or {}
    traits = context.get("traits") if isinstance(context, dict) else None
    found = dict(traits) if isinstance(traits, dict) else {}
    if event.get("type") == "identify" and isinstance(event.get("traits"), dict):
        found.update(event["traits"])
    return {k: v for k, v in found.items() if _storable(k)}


def consent_of(event: Mapping[str, Any]) -> dict[str, bool]:
    """Segment's consent object: ``context.consent.categoryPreferences``."""
    context = event.get("context") or {}
    consent = context.get("consent") if isinstance(context, dict) else None
    prefs = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(prefs, dict):
        return {}
    return {k: v for k, v in prefs.items() if _storable(k) and isinstance(v, bool)}


def attribution_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """First-touch candidates: UTM campaign, referrer and landing page of the event."""
    context = event.get("context") or {}
    if not isinstance(context, dict):
        return {}
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    found = {
        "campaign": context.get("campaign") or None,
        "referrer": (page or {}).get("referrer") or None,
        "landing_page": (page or {}).get("url") or None,
    }
    return {k: v for k, v in found.items() if v}


def _latest(current: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> bool:
    return current is None or str(current.get("at", "")) <= str(candidate.get("at", ""))


def apply_event(profile: Doc, event: Mapping[str, Any], by: str) -> Doc:
    """The profile after ``event`` (whose highest-priority accepted identifier is ``by``)."""
    out = dict(profile)
    when = event_time(event)
    source, message_id = event.get("sourceId"), event.get("messageId")
    traits = dict(out.get("traits") or {})
    for name, value in traits_of(event).items():
        slot = {"value": value, "at": when, "source": source, "message_id": message_id, "by": by}
        if _latest(traits.get(name), slot):
            traits[name] = slot
    out["traits"] = traits
    consent = dict(out.get("consent") or {})
    for category, granted in consent_of(event).items():
        slot = {"value": granted, "at": when, "source": source, "by": by}
        if _latest(consent.get(category), slot):
            consent[category] = slot
    if consent:
        out["consent"] = consent
    touch = attribution_of(event)
    first = out.get("first_touch")
    if touch and (first is None or when < str(first.get("at", ""))):
        out["first_touch"] = {
            **touch,
            "at": when,
            "message_id": message_id,
            "source": source,
            "by": by,
        }
    out["first_seen"] = min(filter(None, [out.get("first_seen"), when]), default=when)
    if _advances(out.get("last_seen"), when):
        out["last_seen"] = when
    return out


LAST_SEEN_STEP = timedelta(hours=1)


def _advances(last_seen: str | None, when: str) -> bool:
    """``last_seen`` moves to a later event only once it is ``LAST_SEEN_STEP`` later, so a
    person's events within the hour do not each rewrite the profile (a Firestore write per
    event was most of the pipeline's bill). It stays within the hour before the latest event;
    the warehouse keeps every exact time."""
    if not last_seen:
        return True
    try:
        later = datetime.fromisoformat(when) - datetime.fromisoformat(last_seen)
    except ValueError:
        return when > last_seen
    return later >= LAST_SEEN_STEP


def _keep_latest(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for name, slot in b.items():
        if _latest(out.get(name), slot):
            out[name] = slot
    return out


def absorb(survivor: Doc, absorbed: Mapping[str, Any]) -> Doc:
    """The survivor after a merge: one document, whatever the sizes of the two."""
    out = with_identifiers(survivor, identifier_set(absorbed))
    out["traits"] = _keep_latest(survivor.get("traits") or {}, absorbed.get("traits") or {})
    consent = _keep_latest(survivor.get("consent") or {}, absorbed.get("consent") or {})
    if consent:
        out["consent"] = consent
    touches = [t for t in (survivor.get("first_touch"), absorbed.get("first_touch")) if t]
    if touches:
        out["first_touch"] = min(touches, key=lambda t: str(t.get("at", "")))
    for bound, pick in (("first_seen", min), ("last_seen", max)):
        values = [v for v in (survivor.get(bound), absorbed.get(bound)) if v]
        if values:
            out[bound] = pick(values)
    claimed = sorted({*(survivor.get("claimed") or []), *(absorbed.get("claimed") or [])})
    if claimed:
        out["claimed"] = claimed
    for log in ("evidence", "conflicts", "unmerged"):
        merged = [*(survivor.get(log) or []), *(absorbed.get(log) or [])]
        if merged:
            out[log] = merged
    return out


def person_of(profile: Mapping[str, Any]) -> Doc:
    """What destinations need of the profile an event resolved to: consent per category and the
    latest value of each trait (the whole slots stay in Firestore)."""
    return {
        "consent": {k: s.get("value") for k, s in (profile.get("consent") or {}).items()},
        "traits": {k: s.get("value") for k, s in (profile.get("traits") or {}).items()},
    }


def public_view(profile: Mapping[str, Any]) -> Doc:
    """What ``cdp profile get`` prints: the profile without its evidence log."""
    return {k: v for k, v in profile.items() if k not in ("evidence", "unmerged")}
