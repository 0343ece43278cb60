"""Shared devices, and the identifiers an alias names.

A device-like identifier (``IdentityConfig.shared_types``: anonymous ids, device and
advertising ids, GA client ids) that two different userIds each *claimed* — were seen in one
event with — belongs to neither person: a family tablet, a shared browser. The first claim
linked it to the first user, so when the second one arrives it is detached: the first user's
profile is recomputed from its evidence with the identifier isolated (as an unmerge does), the
identifier gets a profile of its own, and its document is marked ``shared`` so it links
nothing from then on. Whatever the order the events arrive in, the people are the same.

A profile keeps the claims of its userId (``claimed``: identifier keys), so telling a shared
device costs no read beyond the profile the event already reads.

An alias's ``previousId`` is read as an anonymous id (``identifiers.py``). When it is instead
some profile's userId (a legacy CRM id aliased to the new one), the event carries that userId
too, so the merge rule refuses the link and records the conflict, as for any two userIds.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shared.identity.changes import Assignment, IdentityChange, decided_now
from shared.identity.config import IdentityConfig
from shared.identity.graph import PROFILES, Resolver, identifier_ref
from shared.identity.identifiers import Identifier, normalise
from shared.identity.records import Doc, identifier_set, new_profile, with_identifiers
from shared.identity.unmerge import replay, split, unmerged_change, write_parts
from shared.ports.documents import DocumentStore, Transaction

CLAIMED = "claimed"
SHARED = "shared"


def claim(profile: Doc, accepted: Sequence[Identifier], config: IdentityConfig) -> Doc:
    """The profile once an event carrying ``accepted`` (its userId among them) is on it: its
    device-like identifiers are claimed by the profile's userId."""
    if not any(i.type == "user_id" for i in accepted):
        return profile
    keys = {i.key for i in accepted if i.type in config.shared_types}
    current = set(profile.get(CLAIMED) or [])
    if keys <= current:
        return profile
    return {**profile, CLAIMED: sorted(current | keys)}


def contested(
    identifiers: Sequence[Identifier],
    owners: Mapping[Identifier, str | None],
    docs: Mapping[str, Doc | None],
    config: IdentityConfig,
) -> list[Identifier]:
    """The event's device-like identifiers that this event makes shared: each one claimed by
    its profile's userId while the event carries another userId; every one when the event
    itself carries two userIds. Pure."""
    users = {i.value for i in identifiers if i.type == "user_id"}
    if not users:
        return []
    devices = [i for i in identifiers if i.type in config.shared_types]
    if len(users) > 1:
        return devices
    found = []
    for device in devices:
        owner = owners.get(device)
        profile = docs.get(owner) if owner else None
        if profile is None or device.key not in (profile.get(CLAIMED) or []):
            continue
        if set((profile.get("identifiers") or {}).get("user_id") or []) - users:
            found.append(device)
    return found


def linking(
    identifiers: list[Identifier], links: Mapping[Identifier, Doc | None]
) -> list[Identifier]:
    """The identifiers an event links by: a shared one links nothing, so it is left out unless
    the event has nothing else (then the first one stands for the event on its own)."""
    free = [i for i in identifiers if not (links.get(i) or {}).get(SHARED)]
    return free or identifiers[:1]


def alias_probe(event: Mapping[str, Any], config: IdentityConfig) -> Identifier | None:
    """An alias's ``previousId`` as a userId, to look for (never created from an alias)."""
    if event.get("type") != "alias":
        return None
    probe = normalise("user_id", event.get("previousId"), config)
    return probe if probe is not None and probe.value != str(event.get("userId") or "") else None


def _cause(isolated: Sequence[Identifier], users: Sequence[str], event: Mapping[str, Any]) -> Doc:
    return {
        "id": f"shared:{isolated[0].key}",
        SHARED: [i.key for i in isolated],
        "claimed_by": sorted(users),
        "message_id": event.get("messageId"),
        "source_id": event.get("sourceId"),
    }


class Detacher:
    """Detaches shared identifiers in one transaction (before the event that revealed them is
    applied, in a transaction of its own: redelivered, it finds them already shared)."""

    def __init__(self, store: DocumentStore, config: IdentityConfig) -> None:
        self._store = store
        self._config = config

    def detach(
        self,
        shared: Sequence[Identifier],
        users: Sequence[str],
        event: Mapping[str, Any],
        at: str,
    ) -> list[IdentityChange]:
        """``users``: the userIds of the event that revealed them."""
        return self._store.run_transaction(lambda tx: self._detach(tx, shared, users, event, at))

    def _detach(
        self,
        tx: Transaction,
        shared: Sequence[Identifier],
        users: Sequence[str],
        event: Mapping[str, Any],
        at: str,
    ) -> list[IdentityChange]:
        refs = [identifier_ref(i) for i in shared]
        links = tx.get_all(refs)
        todo = [i for i, r in zip(shared, refs, strict=True) if not (links[r] or {}).get(SHARED)]
        resolver = Resolver(tx)
        pointers = {i: (links[identifier_ref(i)] or {}).get("profile_id") for i in todo}
        resolver.load({str(p) for p in pointers.values() if p})
        by_root: dict[str | None, list[Identifier]] = {}
        for identifier in todo:
            by_root.setdefault(resolver.root(pointers[identifier]), []).append(identifier)
        changes: list[IdentityChange] = []
        marks: dict[Identifier, Doc] = {}
        for root_id, isolated in sorted(by_root.items(), key=lambda kv: str(kv[0])):
            root = resolver.docs.get(root_id) if root_id else None
            if root is None:
                for identifier in isolated:
                    changes.append(self._alone(tx, identifier, users, event, at))
                    marks[identifier] = {}
                continue
            claimed = [*users, *((root.get("identifiers") or {}).get("user_id") or [])]
            parts = replay(
                root.get("evidence") or [], identifier_set(root), self._config, frozenset(isolated)
            )
            cause = _cause(isolated, claimed, event)
            docs = split(root, cause, parts, at)
            write_parts(tx, docs, at, str(cause["id"]))
            reason = f"{', '.join(i.key for i in isolated)} claimed by {' and '.join(claimed)}"
            changes.append(unmerged_change(root, cause, docs, at, f"shared: {reason}"))
            for doc in docs:
                for identifier in set(isolated) & identifier_set(doc):
                    marks[identifier] = {"profile_id": doc["profile_id"], "claimed_by": claimed}
                    marks[identifier]["change"] = changes[-1].to_json()
        for identifier, mark in marks.items():
            if mark:
                tx.set(*identifier_ref(identifier), self._link(identifier, mark, event, at))
        return changes

    def _alone(
        self,
        tx: Transaction,
        identifier: Identifier,
        users: Sequence[str],
        event: Mapping[str, Any],
        at: str,
    ) -> IdentityChange:
        """A shared identifier seen for the first time (with two userIds at once): a profile of
        its own."""
        cause = _cause([identifier], users, event)
        profile_id = str(uuid.uuid5(uuid.NAMESPACE_URL, str(cause["id"])))
        tx.set(PROFILES, profile_id, with_identifiers(new_profile(profile_id, at), [identifier]))
        key = f"shared|{cause['id']}"
        change = IdentityChange(
            change_id=hashlib.sha256(key.encode()).hexdigest()[:32],
            change="created",
            at=at,
            assignments=(Assignment(identifier.type, identifier.value, profile_id),),
            profile_id=profile_id,
            message_id=cause.get("message_id"),
            source_id=cause.get("source_id"),
            reason=f"shared: {identifier.key} seen with two userIds",
            decided_at=decided_now(),
        )
        mark = {"profile_id": profile_id, "claimed_by": users, "change": change.to_json()}
        tx.set(*identifier_ref(identifier), self._link(identifier, mark, event, at))
        return change

    @staticmethod
    def _link(
        identifier: Identifier, mark: Mapping[str, Any], event: Mapping[str, Any], at: str
    ) -> Doc:
        """The shared identifier's document: where it resolves now, who claimed it, and the
        change its detaching published (republished if the revealing event is redelivered)."""
        return {
            "profile_id": mark["profile_id"],
            "type": identifier.type,
            "value": identifier.value,
            "linked_at": at,
            "message_id": event.get("messageId"),
            SHARED: True,
            "claimed_by": sorted(set(mark["claimed_by"])),
            "change": mark["change"],
        }


def republished(
    event: Mapping[str, Any], links: Mapping[Identifier, Doc | None]
) -> list[IdentityChange]:
    """The detach changes this event caused, again (it is a redelivery of the event that
    revealed those shared identifiers); the same change id downstream dedups."""
    found: dict[str, IdentityChange] = {}
    for link in links.values():
        message_id = event.get("messageId")
        if message_id and link and link.get(SHARED) and link.get("message_id") == message_id:
            change = IdentityChange.from_json(link["change"])
            found.setdefault(change.change_id, change)
    return list(found.values())
