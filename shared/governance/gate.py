"""The governance stop at ingest: every accepted event passes here before anything is published.

In this order, because each step protects the next: a suppressed person's event is dropped
first (nothing of it is stored anywhere); the PII guard then redacts, hashes or blocks what must
never be stored, so a plan violation recorded afterwards cannot leak a card number; last, the
tracking plan's findings are decided per source into flagged (they travel on as message
metadata, never inside the event) and blocking (the event goes to the failed-events store with
every finding named, recoverable by a replay).

The three parts are ports here (small protocols), so this decision is table-tested with fakes
and ingest pays for nothing it does not use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from shared.envelope import dumps

Event = dict[str, Any]

PASS = "pass"
SUPPRESSED = "suppressed"
BLOCKED = "blocked"

ALLOW = "allow"
FLAG = "flag"
BLOCK = "block"
PII_KIND = "pii_{cls}"


class FindingLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property  # last: below it, ``property`` names this member
    def property(self) -> str: ...


@dataclass(frozen=True)
class Found:
    """A finding as the gate reports it (a plan finding, or a PII class that blocks)."""

    kind: str
    event: str
    property: str = ""
    detail: str = ""
    mode: str = FLAG

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "event": self.event, "property": self.property,
                "detail": self.detail, "mode": self.mode}  # fmt: skip


class Plan(Protocol):
    """What the gate reads of the tracking plan."""

    @property
    def version(self) -> int: ...
    def modes_for(self, source_id: str) -> Mapping[str, str]: ...


class Guard(Protocol):
    """The PII guard (``shared.governance.pii.PiiGuard``)."""

    def inspect(self, event: Event, text: bytes | None = None) -> Any: ...
    def clear(self, text: bytes) -> bool: ...
    def scrub(self, value: Any) -> Any: ...


class Suppression(Protocol):
    def suppressed(self, event: Mapping[str, Any]) -> bool: ...


Checker = Callable[[Any, Mapping[str, Any], str], Sequence[FindingLike]]


class Verdict(NamedTuple):  # one per event: a tuple is made several times faster
    outcome: str  # pass | suppressed | blocked
    event: Event  # as it goes on (or is kept as a failed event): PII already handled
    text: bytes  # its JSON, written once
    flagged: tuple[Found, ...] = ()
    blocking: tuple[Found, ...] = ()


@dataclass
class Gate:
    plan: Plan | None = None
    check: Checker | None = None
    guard: Guard | None = None
    suppression: Suppression | None = None
    _modes: dict[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def plan_version(self) -> int:
        return self.plan.version if self.plan is not None else 0

    def admit(
        self, event: Event, text: bytes, source_id: str, source_kind: str, clear: bool = False
    ) -> Verdict:
        """``text`` is ``event`` as JSON (ingest wrote it to measure the event); ``clear``: the
        PII guard's pre-scan found nothing in any event of the request (``clear(texts)``)."""
        if self.suppressed(event):
            return Verdict(SUPPRESSED, event, text)
        return self._decide(event, text, source_id, source_kind, clear)

    def admit_all(
        self, events: Sequence[Event], texts: Sequence[bytes], source_id: str, source_kind: str
    ) -> list[Verdict]:
        """``admit`` for each event of a request (``texts[i]`` is ``events[i]`` as JSON), after
        one PII pre-scan of them all (``clear``). When it found nothing, the usual event (one
        the plan finds nothing on) costs the suppression check and the plan's checks alone."""
        clear = self.clear(texts)
        plan, check = self.plan, self.check
        if not clear or plan is None or check is None:
            return [
                self.admit(e, t, source_id, source_kind, clear)
                for e, t in zip(events, texts, strict=True)
            ]
        suppressed = self.suppression.suppressed if self.suppression is not None else None
        verdicts: list[Verdict] = []
        for event, text in zip(events, texts, strict=True):
            if suppressed is not None and isinstance(event, dict) and suppressed(event):
                verdicts.append(Verdict(SUPPRESSED, event, text))
            elif check(plan, event, source_kind):  # found something: decided in full
                verdicts.append(self._decide(event, text, source_id, source_kind, clear))
            else:
                verdicts.append(Verdict(PASS, event, text))
        return verdicts

    def _decide(
        self, event: Event, text: bytes, source_id: str, source_kind: str, clear: bool
    ) -> Verdict:
        """The PII guard, then the plan's findings, for an event that is not suppressed."""
        blocking: list[Found] = []
        if self.guard is not None and not clear:
            found = self.guard.inspect(event, text)
            if found.detections:
                event = found.event
                text = dumps(event)
                if found.blocked:
                    name = _name(event)
                    blocking = [
                        Found(PII_KIND.format(cls=d.cls), name, d.path, "detected", BLOCK)
                        for d in found.detections
                    ]
        flagged: list[Found] = []
        if self.plan is not None and self.check is not None:
            modes = self._modes_of(source_id)
            for finding in self.check(self.plan, event, source_kind):
                mode = modes.get(finding.kind, FLAG)
                if mode == ALLOW:
                    continue
                found_ = Found(finding.kind, finding.event, finding.property, finding.detail, mode)
                (blocking if mode == BLOCK else flagged).append(found_)
        if blocking:
            return Verdict(BLOCKED, event, text, tuple(flagged), tuple(blocking))
        return Verdict(PASS, event, text, tuple(flagged))

    def clear(self, texts: Sequence[bytes]) -> bool:
        """Whether none of these events (each as JSON, as it will be stored) can hold PII: one
        pre-scan of them all, joined by newlines (which no JSON text holds raw, so no shape
        spans two events), spares each event its own inspection."""
        if self.guard is None or not texts:
            return True
        return self.guard.clear(texts[0] if len(texts) == 1 else b"\n".join(texts))

    def suppressed(self, value: Any) -> bool:
        """Whether ``value`` (an event, even one ingest refused) is a suppressed person's."""
        if self.suppression is None or not isinstance(value, dict):
            return False
        return self.suppression.suppressed(value)

    def scrub(self, value: Any) -> Any:
        """``value`` with every detected PII masked (failed-event payloads, anything logged)."""
        return self.guard.scrub(value) if self.guard is not None else value

    def _modes_of(self, source_id: str) -> Mapping[str, str]:
        modes = self._modes.get(source_id)
        if modes is None and self.plan is not None:
            modes = self._modes[source_id] = self.plan.modes_for(source_id)
        return modes or {}


def _name(event: Mapping[str, Any]) -> str:
    """What a finding calls the event: a track's name, else its call type."""
    name = event.get("event")
    return (
        name
        if isinstance(name, str) and event.get("type") == "track"
        else str(event.get("type") or "")
    )


def findings_meta(
    verdicts: Sequence[tuple[str, Sequence[Found]]], plan_version: int
) -> dict[str, Any]:
    """A message's ``meta`` for its flagged events: ``{"findings": {messageId: [[kind, event,
    property], ...]}, "plan_version": N}``; empty when nothing was flagged."""
    found = {mid: [[f.kind, f.event, f.property] for f in fs] for mid, fs in verdicts if fs}
    return {"findings": found, "plan_version": plan_version} if found else {}
