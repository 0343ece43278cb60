"""The tier router: ingest's one entry point into tiering.

``TierRouter.split(events, source)`` takes a request's valid, enriched Segment events and
returns which go to the full pipeline (topic ``events``) and which go the cold way (topic
``cold-events``), recording the promotions the request carries. It applies the rule of
``shared.tiering.rule.tier_of`` in one pass: events engaged whatever the state are decided (and
checked for promotions) at once; only the others wait for the one state lookup, which costs at
most one batched read per request (see ``shared.tiering.state``).

A promotion found anywhere in a request applies to the whole request: a batch holding a visitor's
page views and then its identify sends all of them to the full pipeline.
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


class TierRouter:
    def __init__(self, policy: TierPolicy, state: PromotionState) -> None:
        self._policy = policy
        self._state = state

    @property
    def state(self) -> PromotionState:
        return self._state

    def split(self, events: Sequence[Event], source: Source) -> TierSplit:
        policy, kind = self._policy, source.kind
        if not policy.enabled:
            return TierSplit(engaged=list(events))
        decided: list[tuple[Event, str | None]] = []  # (event, id its tier depends on)
        candidates: list[Promotion] = []
        lookup: set[str] = set()
        decide, look = decided.append, lookup.add
        for event in events:
            if engaged_without_state(event, kind, policy):
                decide((event, None))
                if event.get("anonymousId") or event.get("type") == "alias":
                    candidates += self._promotions(event, source)  # only engaged ones promote
            else:
                anon = anonymous_id(event)
                decide((event, anon))
                if anon is not None:
                    look(anon)
        lookup |= {p.anonymous_id for p in candidates}
        split = TierSplit()
        try:
            promoted = self._state.promoted(lookup) if lookup else set()
        except BackendUnavailable:  # fail towards the full pipeline: costs more, loses nothing
            split.unrecorded = _first_per_id(candidates)
            promoted = set(lookup)
        new = [p for p in _first_per_id(candidates) if p.anonymous_id not in promoted]
        if new:
            try:
                split.promotions = self._state.record(new)
            except BackendUnavailable:
                split.unrecorded = new
            promoted |= {p.anonymous_id for p in new}
        for event, anon in decided:
            cold = anon is not None and anon not in promoted
            (split.cold if cold else split.engaged).append(event)
        return split

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
