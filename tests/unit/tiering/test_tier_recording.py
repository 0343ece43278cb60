"""Recording promotions when requests of one instance overlap: an id another request is
recording is left to it (two create-once transactions on one document deadlock until one
times out), and a failed recording leaves the id free for the next request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from shared.errors import BackendUnavailable
from shared.ports.clock import FakeClock
from shared.ports.documents import InMemoryDocumentStore, Transaction
from shared.tiering.state import PROMOTIONS, Promotion, PromotionState

T = TypeVar("T")


def promotion(anon: str) -> Promotion:
    return Promotion(anonymous_id=anon, reason="linked", at="2026-01-01T00:00:00Z")


def ids(promotions: list[Promotion]) -> list[str]:
    return [p.anonymous_id for p in promotions]


def test_an_id_another_request_is_recording_is_left_to_it() -> None:
    store = InMemoryDocumentStore()
    state = PromotionState(store, FakeClock())
    meanwhile: list[list[Promotion]] = []
    # While the first request's transaction is open, a second one carries a8 and a9.
    store.before_commit = lambda: meanwhile.append(state.record([promotion("a8"), promotion("a9")]))
    assert ids(state.record([promotion("a8")])) == ["a8"]
    assert ids(meanwhile[0]) == ["a9"]
    assert state.record([promotion("a8"), promotion("a9")]) == []  # both known now
    assert [key for key, _ in store.list(PROMOTIONS)] == ["a8", "a9"]


class _FailsOnce(InMemoryDocumentStore):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def run_transaction(self, fn: Callable[[Transaction], T], max_attempts: int = 10) -> T:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("firestore down")
        return super().run_transaction(fn, max_attempts)


def test_a_failed_recording_leaves_the_id_to_the_next_request() -> None:
    state = PromotionState(_FailsOnce(), FakeClock())
    with pytest.raises(BackendUnavailable):
        state.record([promotion("a10")])
    assert ids(state.record([promotion("a10")])) == ["a10"]
