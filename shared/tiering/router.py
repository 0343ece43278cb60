"""The tier router: ingest's one entry point into tiering.

``TierRouter.split(events, source)`` takes a request's valid, enriched Segment events and
returns which go to the full pipeline (topic ``events``) and which go the cold way (topic
``cold-events``), recording the promotions the request carries. It applies the rule of
``shared.tiering.rule.tier_of`` in one pass: events engaged whatever the state are decided (and
checked for promotions) at once; only the others wait for the one state lookup, which costs at
most one batched read per request (see ``shared.tiering.state``).

``TierRouter.decide`` is the same decision as one flag per event, in order, for an ingest that
keeps per-event data of its own (each event's serialized text) and splits that itself.

A promotion found anywhere in a request applies to all of that id's events in the request: a
batch holding a visitor's page views and then its identify sends all of them to the full
pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.errors import BackendUnavailable
from shared.settings import Source
from shared.tiering.rule import (
    Event,
    Reason,
    TierPolicy,
    anonymous_id,
    engaged_without_state,
    own_promotion,
    promotions_of,
)
from shared.tiering.state import Promotion, PromotionState


@dataclass
class TierSplit:
    engaged: list[Event] = field(default_factory=list)
    cold: list[Event] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)  # newly recorded by this request
    unrecorded: list[Promotion] = field(default_factory=list)  # store down: the sweep catches up


@dataclass
class TierDecisions:
    """One flag per input event, in order (for callers that keep their own per-event data,
    such as the event's serialized text): ``cold[i]`` is True when ``events[i]`` is cold."""

    cold: list[bool] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    unrecorded: list[Promotion] = field(default_factory=list)


class TierRouter:
    def __init__(self, policy: TierPolicy, state: PromotionState) -> None:
        self._policy = policy
        self._state = state

    @property
    def state(self) -> PromotionState:
        return self._state

    def split(self, events: Sequence[Event], source: Source) -> TierSplit:
        decisions = self.decide(events, source)
        split = TierSplit(promotions=decisions.promotions, unrecorded=decisions.unrecorded)
        for event, cold in zip(events, decisions.cold, strict=True):
            (split.cold if cold else split.engaged).append(event)
        return split

    def decide(self, events: Sequence[Event], source: Source) -> TierDecisions:
        policy, kind = self._policy, source.kind
        if not policy.enabled:
            return TierDecisions(cold=[False] * len(events))
        depends: list[str | None] = []  # per event: the id its tier depends on, if any
        lookup: set[str] = set()
        depend, look = depends.append, lookup.add
        promoting: list[Event] = []  # engaged events that may promote an id not known promoted
        known = self._state.known
        always = kind in policy.engaged_source_kinds  # engaged_without_state, once per request
        for event in events:
            if always or engaged_without_state(event, kind, policy):
                depend(None)
                anon, event_type = event.get("anonymousId"), event.get("type")
                if event_type != "alias" and type(anon) is str and anon in known:
                    # Promoted already (as this instance knows): its promotion, if the event
                    # makes one, is only looked up (a cache hit), never built nor recorded.
                    if own_promotion(event, policy) is not None:
                        look(anon)
                elif anon or event_type == "alias":
                    promoting.append(event)  # only engaged ones promote
            else:
                anon = anonymous_id(event)
                depend(anon)
                if anon is not None:
                    look(anon)
        evidence = _evidence(promoting, policy)
        lookup |= evidence.keys()
        decisions = TierDecisions()
        try:
            promoted = self._state.promoted(lookup) if lookup else set()
        except BackendUnavailable:  # fail towards the full pipeline: costs more, loses nothing
            decisions.unrecorded = self._promotions(
                _evidence(_engaged(events, kind, policy), policy), source
            )
            promoted = set(lookup)
        new = self._promotions({a: e for a, e in evidence.items() if a not in promoted}, source)
        if new:
            try:
                decisions.promotions = self._state.record(new)
            except BackendUnavailable:
                decisions.unrecorded = new
            promoted |= {p.anonymous_id for p in new}
        decisions.cold = [anon is not None and anon not in promoted for anon in depends]
        return decisions

    def _promotions(
        self, evidence: dict[str, tuple[Event, Reason]], source: Source
    ) -> list[Promotion]:
        return [
            Promotion(
                anonymous_id=anon,
                reason=reason.value,
                at=str(event.get("timestamp") or event.get("receivedAt") or ""),
                user_id=_str(event.get("userId")),
                message_id=_str(event.get("messageId")),
                source_id=source.id,
            )
            for anon, (event, reason) in evidence.items()
        ]


def _str(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _evidence(events: Iterable[Event], policy: TierPolicy) -> dict[str, tuple[Event, Reason]]:
    """Per id the events promote, its first evidence: (event, reason), in order of appearance.
    Promotion records are built later, and only for the ids found new."""
    evidence: dict[str, tuple[Event, Reason]] = {}
    for event in events:
        for promoted_id, reason in promotions_of(event, policy):
            if promoted_id not in evidence:
                evidence[promoted_id] = (event, reason)
    return evidence


def _engaged(events: Iterable[Event], kind: str, policy: TierPolicy) -> list[Event]:
    return [e for e in events if engaged_without_state(e, kind, policy)]
