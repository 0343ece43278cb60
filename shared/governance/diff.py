"""``cdp plan diff OLD NEW``: each change between two plans, compatible or breaking.

Breaking means something that passed the old plan (an event, a property, a value) gets a
finding under the new one, or a reader of the warehouse loses a column or sees it retyped: a
removed event or property, a retyped property, a new required one (or one required of more
sources), a narrowed enum or range, a new format or pattern, a stricter enforcement mode.
Compatible is the rest that matters: new events and optional properties, widened enums and
ranges, deprecations (the event still passes, flagged so that its senders move). Descriptions
and owners are not changes of the contract. Pure: two plans in, changes out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

from shared.governance.plan import KINDS, EventSpec, Property, TrackingPlan

COMPATIBLE = "compatible"
BREAKING = "breaking"
STRICTNESS = {"allow": 0, "flag": 1, "block": 2}


@dataclass(frozen=True)
class Change:
    kind: str  # compatible | breaking
    where: str  # dotted path, e.g. events.transaction_initiated.properties.method
    what: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def diff(old: TrackingPlan, new: TrackingPlan) -> list[Change]:
    changes: list[Change] = []
    if old.naming != new.naming:
        changes.append(Change(BREAKING, "naming", f"{old.naming} → {new.naming}"))
    changes += _properties("common_properties", old.common_properties, new.common_properties)
    changes += _properties("traits", old.traits, new.traits)
    changes += _events("events", old.events, new.events)
    changes += _events("platform_events", old.platform_events, new.platform_events)
    changes += _enforcement(old, new)
    return changes


def breaking(changes: list[Change]) -> bool:
    return any(c.kind == BREAKING for c in changes)


def _events(
    section: str, old: Mapping[str, EventSpec], new: Mapping[str, EventSpec]
) -> Iterator[Change]:
    for name in sorted(old.keys() - new.keys()):
        yield Change(BREAKING, f"{section}.{name}", "event removed")
    for name in sorted(new.keys() - old.keys()):
        yield Change(COMPATIBLE, f"{section}.{name}", f"event added ({new[name].status})")
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name], new[name]
        where = f"{section}.{name}"
        if before.status != after.status:
            yield Change(COMPATIBLE, where, f"status {before.status} → {after.status}")
        yield from _properties(f"{where}.properties", before.properties, after.properties)


def _properties(
    section: str, old: Mapping[str, Property], new: Mapping[str, Property]
) -> Iterator[Change]:
    for name in sorted(old.keys() - new.keys()):
        yield Change(BREAKING, f"{section}.{name}", "property removed")
    for name in sorted(new.keys() - old.keys()):
        prop = new[name]
        kind = BREAKING if prop.required else COMPATIBLE
        yield Change(kind, f"{section}.{name}", f"{_required(prop)} property added")
    for name in sorted(old.keys() & new.keys()):
        yield from _property(f"{section}.{name}", old[name], new[name])


def _required(prop: Property) -> str:
    if not prop.required:
        return "optional"
    return f"required ({', '.join(prop.required_for)})" if prop.required_for else "required"


def _demanded_of(prop: Property) -> frozenset[str] | None:
    """The source kinds that must send it (None: every kind); empty when it is optional."""
    if not prop.required:
        return frozenset()
    return frozenset(prop.required_for) if prop.required_for else None


def _property(where: str, old: Property, new: Property) -> Iterator[Change]:
    if old.type != new.type:
        yield Change(BREAKING, where, f"retyped {old.type} → {new.type}")
    yield from _requirement(where, old, new)
    yield from _enum(where, old, new)
    yield from _range(where, "minimum", old.minimum, new.minimum, lower_is_wider=True)
    yield from _range(where, "maximum", old.maximum, new.maximum, lower_is_wider=False)
    for key in ("format", "pattern"):
        before, after = getattr(old, key), getattr(new, key)
        if before != after:
            kind = COMPATIBLE if after is None else BREAKING
            yield Change(kind, where, f"{key} {before or '(none)'} → {after or '(none)'}")


def _requirement(where: str, old: Property, new: Property) -> Iterator[Change]:
    before, after = _demanded_of(old), _demanded_of(new)
    if before == after:
        return
    # None (every kind) demands more than any set of kinds.
    wider = after is None or (before is not None and not after <= before)
    kind = BREAKING if wider else COMPATIBLE
    yield Change(kind, where, f"{_required(old)} → {_required(new)}")


def _enum(where: str, old: Property, new: Property) -> Iterator[Change]:
    if old.enum == new.enum:
        return
    if new.enum is None:
        yield Change(COMPATIBLE, where, "enum removed: any value passes")
        return
    if old.enum is None:
        yield Change(BREAKING, where, f"enum added: {', '.join(map(str, new.enum))}")
        return
    removed = [v for v in old.enum if v not in set(new.enum)]
    added = [v for v in new.enum if v not in set(old.enum)]
    if removed:
        yield Change(BREAKING, where, f"enum narrowed: {', '.join(map(str, removed))} removed")
    if added:
        yield Change(COMPATIBLE, where, f"enum widened: {', '.join(map(str, added))} added")


def _range(
    where: str, key: str, old: float | None, new: float | None, *, lower_is_wider: bool
) -> Iterator[Change]:
    if old == new:
        return
    if new is None:
        wider = True
    elif old is None:
        wider = False
    else:
        wider = new < old if lower_is_wider else new > old
    kind = COMPATIBLE if wider else BREAKING
    yield Change(kind, where, f"{key} {_bound(old)} → {_bound(new)}")


def _bound(value: float | None) -> str:
    return "(none)" if value is None else f"{value:g}"


def _enforcement(old: TrackingPlan, new: TrackingPlan) -> Iterator[Change]:
    """Per source a stricter mode is breaking: events that flowed would now be held back."""
    sources = sorted({*old.enforcement.sources, *new.enforcement.sources})
    for source, label in [("", "default"), *((s, f"sources.{s}") for s in sources)]:
        before, after = old.modes_for(source), new.modes_for(source)
        for finding in KINDS:
            if before[finding] != after[finding]:
                stricter = STRICTNESS[after[finding]] > STRICTNESS[before[finding]]
                yield Change(
                    BREAKING if stricter else COMPATIBLE,
                    f"enforcement.{label}.{finding}",
                    f"{before[finding]} → {after[finding]}",
                )


def version_note(old: TrackingPlan, new: TrackingPlan, changes: list[Change]) -> str:
    """'' unless the plan changed and its version did not move up (violations name it)."""
    if changes and new.version <= old.version:
        return f"the plan changed but its version did not go up ({old.version} → {new.version})"
    return ""
