"""Evidence: why identifiers belong to one person. Every event that created a profile, linked
a new identifier or merged two profiles leaves one entry on the surviving profile:

    {id, kind, profile_id, message_id, source_id, at, identifiers, added, absorbed, moved, epoch}

From an entry alone we can rebuild the identity changes it caused (so a redelivered message
republishes the same ``change_id``), replay it after an unmerge, and explain a profile as paths
of evidence between its identifiers.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.identity.changes import Assignment, IdentityChange, decided_now
from shared.identity.identifiers import Identifier
from shared.identity.records import event_time
from shared.identity.rules import Plan

Entry = dict[str, Any]


def evidence_id(event: Mapping[str, Any]) -> str:
    message_id = event.get("messageId")
    if message_id:
        return str(message_id)
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def build_entry(
    plan: Plan,
    event: Mapping[str, Any],
    profile_id: str,
    moved: Mapping[str, Iterable[Identifier]],
    epoch: int,
) -> Entry:
    return {
        "id": evidence_id(event),
        "kind": plan.kind,
        "profile_id": profile_id,
        "message_id": event.get("messageId"),
        "source_id": event.get("sourceId"),
        "at": event_time(event),
        "identifiers": [i.key for i in plan.accepted],
        "added": [i.key for i in plan.added],
        "absorbed": list(plan.absorbed),
        "moved": {pid: sorted(i.key for i in ids) for pid, ids in moved.items()},
        "epoch": epoch,
        "decided_at": decided_now(),  # kept, so a redelivery republishes the same order
    }


def conflict_records(plan: Plan, event: Mapping[str, Any], profile_id: str) -> list[Entry]:
    return [
        {
            "identifier": c.identifier.key,
            "left_on": c.profile_id,
            "kept_on": profile_id,
            "type": c.type,
            "limit": c.limit,
            "message_id": event.get("messageId"),
            "at": event_time(event),
        }
        for c in plan.left_out
    ]


def _change_id(entry: Mapping[str, Any], change: str, absorbed: str = "") -> str:
    cause = f"{entry['id']}|{entry.get('epoch', 0)}|{change}|{entry['profile_id']}|{absorbed}"
    return hashlib.sha256(cause.encode()).hexdigest()[:32]


def _assign(keys: Sequence[str], profile_id: str) -> tuple[Assignment, ...]:
    out = []
    for key in keys:
        identifier = Identifier.parse(key)
        out.append(Assignment(identifier.type, identifier.value, profile_id))
    return tuple(out)


def changes_of(entry: Mapping[str, Any]) -> list[IdentityChange]:
    """The identity changes this evidence caused; the same entry always gives the same ids."""
    pid = str(entry["profile_id"])
    common: dict[str, Any] = {
        "at": entry["at"],
        "profile_id": pid,
        "message_id": entry.get("message_id"),
        "source_id": entry.get("source_id"),
        "decided_at": entry.get("decided_at"),
    }
    out: list[IdentityChange] = []
    if entry["added"]:
        change = "created" if entry["kind"] == "created" else "linked"
        out.append(
            IdentityChange(
                change_id=_change_id(entry, change),
                change=change,
                assignments=_assign(entry["added"], pid),
                reason=f"new identifiers seen with {', '.join(entry['identifiers'])}",
                **common,
            )
        )
    for absorbed in entry.get("absorbed") or []:
        out.append(
            IdentityChange(
                change_id=_change_id(entry, "merged", absorbed),
                change="merged",
                assignments=_assign(entry["moved"].get(absorbed, []), pid),
                absorbed_profile_id=absorbed,
                reason=f"one event carried {', '.join(entry['identifiers'])}",
                **common,
            )
        )
    return out


def explain(profile: Mapping[str, Any], start: Identifier) -> dict[str, Any]:
    """Why the identifiers of ``profile`` belong together: each one's path of evidence from
    ``start``, and every step in event-time order."""
    entries = sorted(profile.get("evidence") or [], key=lambda e: (e["at"], e["id"]))
    here = set(_all_keys(profile))  # a path never goes through an identifier now elsewhere
    touching: dict[str, list[Entry]] = {}
    for entry in entries:
        for key in entry["identifiers"]:
            touching.setdefault(key, []).append(entry)
    parent: dict[str, tuple[str, Entry]] = {}
    queue, seen = deque([start.key]), {start.key}
    while queue:
        key = queue.popleft()
        for entry in touching.get(key, []):
            for other in entry["identifiers"]:
                if other not in seen and other in here:
                    seen.add(other)
                    parent[other] = (key, entry)
                    queue.append(other)
    paths: dict[str, list[dict[str, Any]]] = {}
    for key in parent:
        path, node = [], key
        while node in parent:
            previous, entry = parent[node]
            path.append({"from": previous, "to": node, "evidence": entry["id"], "at": entry["at"]})
            node = previous
        paths[key] = path[::-1]
    return {
        "profile_id": profile.get("profile_id"),
        "identifier": start.key,
        "steps": entries,
        "paths": paths,
        "unlinked": sorted(i for i in _all_keys(profile) if i not in seen),
        "conflicts": profile.get("conflicts") or [],
        "unmerged": profile.get("unmerged") or [],
    }


def _all_keys(profile: Mapping[str, Any]) -> list[str]:
    return [f"{k}:{v}" for k, values in (profile.get("identifiers") or {}).items() for v in values]


def render(explanation: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for ``cdp profile explain``."""
    lines = [
        f"profile {explanation['profile_id']} — why {explanation['identifier']} is this person"
    ]
    for n, step in enumerate(explanation["steps"], 1):
        what = {"created": "first seen", "linked": "linked", "merged": "merged"}[step["kind"]]
        extra = f"; absorbed {', '.join(step['absorbed'])}" if step["absorbed"] else ""
        lines.append(
            f"  {n}. {step['at']}  {what:<10} source={step['source_id'] or '-'} "
            f"message={step['message_id'] or '-'} evidence={step['id']}: "
            f"{' + '.join(step['identifiers'])}{extra}"
        )
    for key, path in sorted(explanation["paths"].items()):
        hops = " → ".join([path[0]["from"], *(f"[{p['evidence']}] {p['to']}" for p in path)])
        lines.append(f"  {key}: {hops}")
    for conflict in explanation["conflicts"]:
        lines.append(
            f"  conflict: {conflict['identifier']} left out ({conflict['type']} limit "
            f"{conflict['limit']}) by message {conflict['message_id']}"
        )
    for undone in explanation["unmerged"]:
        if "shared" in undone:
            users = " and ".join(undone.get("claimed_by") or [])
            lines.append(
                f"  shared: {', '.join(undone['shared'])} detached at {undone['at']} "
                f"(claimed by {users})"
            )
        else:
            lines.append(f"  unmerged: evidence {undone['evidence']} removed at {undone['at']}")
    return lines
