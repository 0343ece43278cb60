"""The identity graph and profiles in the document store: one transaction per event.

A merge writes the survivor and one forwarding pointer on the absorbed profile: it never
rewrites the absorbed profile's identifier documents, so its cost does not grow with the
profile. Pointers are followed on read and compacted when an event passes through them
(graph.py).

A root profile lists exactly the identifiers that resolve to it. So when this instance already
knows an event's profile (an in-memory cache), one read of that profile inside the
transaction proves the cache right: a known user's event costs one read and at most one write.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.errors import BackendUnavailable
from shared.identity.changes import IdentityChange
from shared.identity.config import IdentityConfig
from shared.identity.evidence import build_entry, changes_of, conflict_records, evidence_id
from shared.identity.graph import (
    PROFILES,
    IdentifierCache,
    Resolver,
    compact,
    find,
    identifier_ref,
)
from shared.identity.identifiers import Identifier, identifiers_of
from shared.identity.records import (
    Doc,
    absorb,
    apply_event,
    event_time,
    forwarding,
    holds,
    identifier_set,
    is_forwarded,
    new_profile,
    person_of,
    with_identifiers,
)
from shared.identity.rules import plan_event
from shared.identity.shared import (
    Detacher,
    alias_probe,
    claim,
    contested,
    linking,
    republished,
)
from shared.ports.documents import DocumentStore, Transaction

Known = tuple[Mapping[str, Any], list[Identifier]]  # an event and its identifiers


MAX_DETACH_ROUNDS = 4  # each round makes at least one more identifier shared


@dataclass(frozen=True)
class Contested:
    """The event shows these device-like identifiers to be shared: detach them, then apply it."""

    shared: tuple[Identifier, ...]
    users: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    profile_id: str
    changes: list[IdentityChange] = field(default_factory=list)
    identifiers: tuple[Identifier, ...] = ()
    event_id: str = ""  # evidence_id of the event: messageId
    person: Mapping[str, Any] = field(default_factory=dict)  # see person_of


class ProfileRepository:
    def __init__(
        self,
        store: DocumentStore,
        config: IdentityConfig | None = None,
        cache: IdentifierCache | None = None,
    ) -> None:
        self.store = store
        self.config = config or IdentityConfig()
        self._cache = cache or IdentifierCache(self.config.cache_size)
        self._detacher = Detacher(store, self.config)
        # One message at a time per instance: two messages' transactions on the same people
        # only wait on each other (the cloud runs one request per instance anyway).
        self._one_message = threading.Lock()

    # The event path.

    def record(self, event: Mapping[str, Any]) -> Outcome | None:
        """Attach the event to its person (creating, linking or merging profiles) in one
        transaction, and return the changes to publish once it has committed. An event that
        shows a device to be shared first detaches it, in a transaction of its own."""
        identifiers = identifiers_of(dict(event), self.config)
        if not identifiers:
            return None
        detached: list[IdentityChange] = []
        for _ in range(MAX_DETACH_ROUNDS):
            result = self.store.run_transaction(lambda tx: self._record(tx, event, identifiers))
            if not isinstance(result, Contested):
                break
            at = event_time(event)
            detached += self._detacher.detach(result.shared, result.users, event, at)
        else:
            raise BackendUnavailable(f"identity of message {event.get('messageId')} kept moving")
        if result is None:
            return None
        self._cache.put([i.key for i in result.identifiers], result.profile_id)
        if detached:
            again = {c.change_id for c in detached}  # the event that revealed them republishes
            fresh = [c for c in result.changes if c.change_id not in again]
            result = replace(result, changes=[*detached, *fresh])
        return result

    def record_all(self, events: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """The events of one message. Those of people this instance knows, that bring no new
        identifier, share one transaction at the end: one read of their profiles and at most
        one write per person. The others go one by one, in order; once one has made its person
        known (a sign-up), that person's next events join the shared transaction."""
        with self._one_message:
            outcomes: list[Outcome] = []
            known: dict[str, list[Known]] = {}
            for event in events:
                identifiers = identifiers_of(dict(event), self.config)
                cached = {self._cache.get(i.key) for i in identifiers}
                if len(cached) == 1 and None not in cached and event.get("type") != "alias":
                    known.setdefault(str(cached.pop()), []).append((event, identifiers))
                elif identifiers and (outcome := self.record(event)) is not None:
                    outcomes.append(outcome)
            if known:
                done, left = self.store.run_transaction(functools.partial(self._known_all, known))
                outcomes += done
                for event, _ in left:  # the profile moved on (a merge): resolve them again
                    if (outcome := self.record(event)) is not None:
                        outcomes.append(outcome)
            return outcomes

    def _known_all(
        self, groups: Mapping[str, Sequence[Known]], tx: Transaction
    ) -> tuple[list[Outcome], list[Known]]:
        """Every known person of the message in one transaction: one read of all their
        profiles, one write per profile that changed."""
        got = tx.get_all([(PROFILES, pid) for pid in groups])
        done: list[Outcome] = []
        left: list[Known] = []
        for pid, members in groups.items():
            ours, theirs = self._apply_known(tx, pid, got[(PROFILES, pid)], members)
            done += ours
            left += theirs
        return done, left

    def _record(
        self, tx: Transaction, event: Mapping[str, Any], identifiers: list[Identifier]
    ) -> Outcome | Contested | None:
        cached = {self._cache.get(i.key) for i in identifiers}
        if len(cached) == 1 and None not in cached and event.get("type") != "alias":
            profile_id = str(cached.pop())
            profile = tx.get(PROFILES, profile_id)
            done, _ = self._apply_known(tx, profile_id, profile, [(event, identifiers)])
            if done:
                return done[0]
        return self._resolve_and_apply(tx, event, identifiers)

    def _apply_known(
        self, tx: Transaction, profile_id: str, profile: Doc | None, members: Sequence[Known]
    ) -> tuple[list[Outcome], list[Known]]:
        """The fast path: one read, valid for the events whose identifiers the cached profile
        still lists (a root profile lists exactly what resolves to it)."""
        if profile is None or is_forwarded(profile):
            return [], list(members)
        holding = identifier_set(profile)
        updated, done, left = profile, [], []
        for event, identifiers in members:
            if not set(identifiers) <= holding:
                left.append((event, identifiers))
                continue
            updated = claim(
                apply_event(updated, event, identifiers[0].key), identifiers, self.config
            )
            changes = self._republish(profile, event)
            eid = evidence_id(event)
            done.append(Outcome(profile_id, changes, tuple(identifiers), eid, person_of(updated)))
        if updated != profile:
            tx.set(PROFILES, profile_id, updated)
        return done, left

    @staticmethod
    def _republish(profile: Mapping[str, Any], event: Mapping[str, Any]) -> list[IdentityChange]:
        """A redelivered event's changes again, with the same ids (downstream dedups)."""
        eid, epoch = evidence_id(event), len(profile.get("unmerged") or [])
        entries = [
            e
            for e in profile.get("evidence") or []
            if e["id"] == eid and e.get("epoch", 0) == epoch
        ]
        return [c for e in entries for c in changes_of(e)]

    def _resolve_and_apply(
        self, tx: Transaction, event: Mapping[str, Any], identifiers: list[Identifier]
    ) -> Outcome | Contested | None:
        probe = alias_probe(event, self.config)
        asked = [*identifiers, *([probe] if probe and probe not in identifiers else [])]
        links = tx.get_all([identifier_ref(i) for i in asked])
        found = {i: links[identifier_ref(i)] for i in asked}
        own = linking(identifiers, found)
        if probe is not None and probe not in own and (found[probe] or {}).get("profile_id"):
            # previousId names a known user: an alias to it is a second userId, not a device
            previous = Identifier("anonymous_id", probe.value)
            own = [i for i in own if i != previous or found.get(i)]
            identifiers = [*own, probe]  # last: the event's own ids win over it
        else:
            identifiers = own
        pointers = {i: (found[i] or {}).get("profile_id") for i in identifiers}
        resolver = Resolver(tx)
        resolver.load({str(p) for p in pointers.values() if p})
        owners = {i: resolver.root(p) for i, p in pointers.items()}
        shared = contested(own, owners, resolver.docs, self.config)
        if shared:
            return Contested(
                tuple(shared), tuple(sorted(i.value for i in own if i.type == "user_id"))
            )
        roots = {p for p in owners.values() if p is not None}
        holdings = {p: holds(resolver.docs[p] or {}) for p in roots}
        plan = plan_event(identifiers, owners, holdings, self.config)
        if not plan.accepted:
            return None
        at = event_time(event)
        message_id = str(event.get("messageId") or evidence_id(event))
        target_id = plan.target or str(uuid.uuid4())
        before = resolver.docs.get(target_id) if plan.target else None
        profile = dict(before) if before else new_profile(target_id, at)
        moved: dict[str, set[Identifier]] = {}
        for absorbed_id in plan.absorbed:
            absorbed = resolver.docs[absorbed_id] or {}
            moved[absorbed_id] = identifier_set(absorbed)
            profile = absorb(profile, absorbed)
            tx.set(PROFILES, absorbed_id, forwarding(absorbed_id, target_id, at, message_id))
        profile = with_identifiers(profile, plan.added)
        if plan.kind != "none":
            epoch = len(profile.get("unmerged") or [])
            entry = build_entry(plan, event, target_id, moved, epoch)
            profile["evidence"] = [*(profile.get("evidence") or []), entry]
            changes = changes_of(entry)
        else:
            changes = self._republish(profile, event)
        changes = [*republished(event, found), *changes]
        self._record_conflicts(profile, conflict_records(plan, event, target_id))
        profile = apply_event(profile, event, plan.accepted[0].key)
        profile = claim(profile, [i for i in plan.accepted if i in own], self.config)
        if profile != before:
            tx.set(PROFILES, target_id, profile)
        for identifier in plan.added:
            tx.set(
                *identifier_ref(identifier),
                {
                    "profile_id": target_id,
                    "type": identifier.type,
                    "value": identifier.value,
                    "linked_at": at,
                    "message_id": message_id,
                },
            )
        merged = {target_id, *plan.absorbed}

        def final(root: str | None) -> str | None:
            return target_id if root in merged else root

        refs = {identifier_ref(i): found[i] for i in identifiers}
        compact(tx, refs, pointers, owners, final, resolver)
        return Outcome(target_id, changes, plan.accepted, evidence_id(event), person_of(profile))

    @staticmethod
    def _record_conflicts(profile: Doc, records: list[Doc]) -> None:
        existing = profile.get("conflicts") or []
        seen = {(c["identifier"], c["message_id"]) for c in existing}
        fresh = [c for c in records if (c["identifier"], c["message_id"]) not in seen]
        if fresh:
            profile["conflicts"] = [*existing, *fresh]

    # Reads for operators.

    def find(self, identifier: Identifier | tuple[str, str]) -> Doc | None:
        """The resolved (root) profile holding ``identifier``, or None."""
        return find(self.store, Identifier(*identifier))
