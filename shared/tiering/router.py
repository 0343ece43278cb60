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

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.errors import BackendUnavailable
from shared.settings import Source
from shared.tiering.rule import (
    Event,
    TierPolicy,
    anonymous_id,
    engaged_without_state,
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
        candidates: list[Promotion] = []
        lookup: set[str] = set()
        depend, look = depends.append, lookup.add
        for event in events:
            if engaged_without_state(event, kind, policy):
                depend(None)
                if event.get("anonymousId") or event.get("type") == "alias":
                    candidates += self._promotions(event, source)  # only engaged ones promote
            else:
                anon = anonymous_id(event)
                depend(anon)
                if anon is not None:
                    look(anon)
        lookup |= {p.anonymous_id for p in candidates}
        decisions = TierDecisions()
        try:
            promoted = self._state.promoted(lookup) if lookup else set()
        except BackendUnavailable:  # fail towards the full pipeline: costs more, loses nothing
            decisions.unrecorded = _first_per_id(candidates)
            promoted = set(lookup)
        new = [p for p in _first_per_id(candidates) if p.anonymous_id not in promoted]
        if new:
            try:
                decisions.promotions = self._state.record(new)
            except BackendUnavailable:
                decisions.unrecorded = new
            promoted |= {p.anonymous_id for p in new}
        decisions.cold = [anon is not None and anon not in promoted for anon in depends]
        return decisions

    def _promotions(self, event: Event, source: Source) -> list[Promotion]:
        return [
            Promotion(
                anonymous_id=anon,
                reason=reason.value,
                at=str(event.get("timestamp") or event.get("receivedAt") or ""),
                user_id=_str(event.get("userId")),
                message_id=_str(event.get("messageId")),
                source_id=source.id,
            )
            for anon, reason in promotions_of(event, self._policy)
        ]


def _str(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _first_per_id(promotions: list[Promotion]) -> list[Promotion]:
    seen: dict[str, Promotion] = {}
    for promotion in promotions:
        seen.setdefault(promotion.anonymous_id, promotion)
    return list(seen.values())
