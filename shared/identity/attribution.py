"""First-touch attribution found later: the promotion sweep works out, from the cold archive,
what first brought an anonymous visitor in, and hands it to identity, which keeps on the
profile the earliest first touch of any of the person's anonymous ids.

An event that itself carries a campaign, referrer or landing page sets ``first_touch`` as it is
recorded (records.py); this is for the history that never reached the full pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.identity.graph import PROFILES, Resolver, identifier_ref
from shared.identity.identifiers import Identifier
from shared.identity.records import Doc, iso
from shared.ports.documents import DocumentStore, Transaction

UTM_FIELDS = {"utm_campaign": "name", "utm_source": "source", "utm_medium": "medium"}
UTM_FIELDS |= {"utm_term": "term", "utm_content": "content"}


def touch_from_attribution(found: Mapping[str, Any]) -> Doc:
    """The profile's ``first_touch`` from an attribution document (``utm_*``, referrer,
    landing page, first_seen, first_message_id of an anonymous id's earliest event)."""
    campaign = {name: found[utm] for utm, name in UTM_FIELDS.items() if found.get(utm)}
    touch = {
        "campaign": campaign or None,
        "referrer": found.get("referrer") or None,
        "landing_page": found.get("landing_page") or None,
    }
    return {
        **{k: v for k, v in touch.items() if v},
        "at": iso(found.get("first_seen")),
        "message_id": found.get("first_message_id"),
        "source": "attribution",
        "by": Identifier("anonymous_id", str(found.get("anonymous_id", ""))).key,
    }


def earlier(current: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> bool:
    return current is None or str(candidate.get("at", "")) < str(current.get("at", ""))


def attach_first_touch(store: DocumentStore, touch: Mapping[str, Any]) -> str | None:
    """Put ``touch`` (see ``touch_from_attribution``) on the profile of its anonymous id if it
    is earlier than the one there; returns the profile id, or None if no profile holds it.
    Idempotent: attaching the same touch twice changes nothing."""
    identifier = Identifier.parse(str(touch["by"]))

    def attach(tx: Transaction) -> str | None:
        link = tx.get(*identifier_ref(identifier))
        if link is None:
            return None
        resolver = Resolver(tx)
        resolver.load({str(link["profile_id"])})
        root = resolver.root(str(link["profile_id"]))
        profile = resolver.docs.get(root) if root else None
        if root is None or profile is None:
            return None
        if earlier(profile.get("first_touch"), touch):
            tx.set(PROFILES, root, {**profile, "first_touch": dict(touch)})
        return root

    return store.run_transaction(attach)
