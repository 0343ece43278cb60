"""The router on fakes: splits, records promotions once, and reads promotion state at most once
per request; a promotion on one instance reaches the others within the negative-cache TTL."""

from __future__ import annotations

from typing import Any

from shared.errors import BackendUnavailable
from shared.ports.clock import FakeClock
from shared.ports.documents import Doc, InMemoryDocumentStore, Ref
from shared.settings import Settings, Source
from shared.tiering.router import TierRouter
from shared.tiering.rule import TierPolicy
from shared.tiering.state import PROMOTIONS, PromotionState

WEB = Source(id="web", name="Web", kind="web", write_key_sha256="x")
SERVER = Source(id="backend", name="Backend", kind="server", write_key_sha256="y")
POLICY = TierPolicy.from_settings(Settings())


def page(anon: str, n: int = 0) -> dict[str, Any]:
    return {"type": "page", "anonymousId": anon, "messageId": f"{anon}-p{n}",
            "timestamp": "2026-01-01T00:00:00.000Z"}  # fmt: skip


def identify(anon: str, user: str) -> dict[str, Any]:
    return {"type": "identify", "anonymousId": anon, "userId": user, "messageId": f"{anon}-i",
            "timestamp": "2026-01-01T00:01:00.000Z"}  # fmt: skip


def router(store: InMemoryDocumentStore, clock: FakeClock, ttl: float = 5.0) -> TierRouter:
    return TierRouter(POLICY, PromotionState(store, clock, negative_ttl_seconds=ttl))


def test_cold_visitor_then_sign_up_then_engaged() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    r = router(store, clock)
    first = r.split([page("a1", 1), page("a1", 2)], WEB)
    assert (len(first.engaged), len(first.cold), first.promotions) == (0, 2, [])
    signup = r.split([identify("a1", "u1")], WEB)
    assert [p.reason for p in signup.promotions] == ["identified"]
    assert signup.promotions[0].user_id == "u1" and signup.engaged and not signup.cold
    later = r.split([page("a1", 3)], WEB)
    assert later.engaged and not later.cold
    [(doc_id, doc)] = store.list(PROMOTIONS)
    assert doc_id == "a1" and doc["reason"] == "identified" and doc["message_id"] == "a1-i"


def test_a_promotion_in_a_batch_applies_to_the_whole_batch() -> None:
    split = router(InMemoryDocumentStore(), FakeClock()).split(
        [page("a2", 1), identify("a2", "u2"), page("a2", 2), page("other")], WEB
    )
    assert [e["messageId"] for e in split.engaged] == ["a2-p1", "a2-i", "a2-p2"]
    assert [e["messageId"] for e in split.cold] == ["other-p0"]


def test_known_ids_cost_no_read_and_misses_one_batched_read_per_request() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    r = router(store, clock)
    r.split([identify("known", "u")], WEB)
    reads, round_trips = store.reads, r.state.stats.reads
    r.split([page("known", n) for n in range(50)], WEB)
    assert store.reads == reads  # promoted ids are cached for good
    r.split([page(f"new-{n}") for n in range(100)], WEB)
    assert store.reads == reads + 100  # 100 documents ...
    assert r.state.stats.reads == round_trips + 1  # ... in one batched get_all
    r.split([page(f"new-{n}") for n in range(100)], WEB)
    assert store.reads == reads + 100  # negatives cached within the TTL


def test_ids_engaged_by_the_rule_are_not_looked_up() -> None:
    store = InMemoryDocumentStore()
    r = router(store, FakeClock())
    r.split([{**page("a3"), "userId": "u3", "type": "track", "event": "x"}], WEB)
    reads = store.reads
    r.split([{**page(f"s{n}"), "type": "track", "event": "x"} for n in range(10)], SERVER)
    assert store.reads == reads


def test_promotion_is_recorded_once() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    a, b = router(store, clock), router(store, clock)
    assert len(a.split([identify("a4", "u4")], WEB).promotions) == 1
    assert b.split([identify("a4", "u4")], WEB).promotions == []  # already stored
    assert a.split([identify("a4", "u4")], WEB).promotions == []  # already cached
    assert len(store.list(PROMOTIONS)) == 1


def test_a_promotion_on_one_instance_reaches_another_within_the_ttl() -> None:
    store, clock = InMemoryDocumentStore(), FakeClock()
    instance_a, instance_b = router(store, clock, ttl=5.0), router(store, clock, ttl=5.0)
    assert instance_b.split([page("a5")], WEB).cold  # b caches "not promoted"
    instance_a.split([{"type": "track", "event": "kyc_started", "anonymousId": "a5"}], WEB)
    clock.advance(4.9)
    assert instance_b.split([page("a5")], WEB).cold  # still within b's negative TTL
    clock.advance(0.2)
    assert instance_b.split([page("a5")], WEB).engaged  # re-read after the TTL: engaged


class _DownStore(InMemoryDocumentStore):
    def get_all(self, refs: list[Ref]) -> dict[Ref, Doc | None]:  # type: ignore[override]
        raise BackendUnavailable("firestore down")


def test_store_outage_fails_towards_the_full_pipeline_uncached() -> None:
    store = _DownStore()
    r = router(store, FakeClock())
    split = r.split([page("a6"), identify("a7", "u7")], WEB)
    assert len(split.engaged) == 2 and not split.cold
    assert [p.anonymous_id for p in split.unrecorded] == ["a7"]
    assert r.state.stats.store_failures == 1


def test_tiering_off_sends_everything_to_the_full_pipeline_without_reads() -> None:
    store = InMemoryDocumentStore()
    r = TierRouter(TierPolicy.from_settings(Settings(tier_enabled=False)),
                   PromotionState(store, FakeClock()))  # fmt: skip
    assert len(r.split([page("a8")], WEB).engaged) == 1 and store.reads == 0


def test_decide_flags_each_event_in_order_like_split() -> None:
    events = [page("a9", 1), identify("a10", "u10"), page("a10", 2), page("a9", 3)]
    r = router(InMemoryDocumentStore(), FakeClock())
    decisions = r.decide(events, WEB)
    assert decisions.cold == [True, False, False, True]
    assert [p.anonymous_id for p in decisions.promotions] == ["a10"]
    split = r.split(events, WEB)
    assert split.cold == [events[0], events[3]] and split.engaged == events[1:3]


class _SwitchableStore(InMemoryDocumentStore):
    down = False

    def get_all(self, refs: list[Ref]) -> dict[Ref, Doc | None]:  # type: ignore[override]
        if self.down:
            raise BackendUnavailable("firestore down")
        return super().get_all(refs)


def test_an_id_known_promoted_is_a_cache_hit_and_still_unrecorded_in_an_outage() -> None:
    store = _SwitchableStore()
    r = router(store, FakeClock())
    r.split([identify("a11", "u11")], WEB)
    linked = {"type": "track", "event": "x", "anonymousId": "a11", "userId": "u11",
              "messageId": "m-11", "timestamp": "2026-01-01T00:02:00.000Z"}  # fmt: skip
    hits, reads = r.state.stats.hits, store.reads
    split = r.split([linked, {**linked, "messageId": "m-12"}], WEB)
    assert (split.promotions, split.unrecorded, len(split.engaged)) == ([], [], 2)
    assert (r.state.stats.hits, store.reads) == (hits + 1, reads)
    store.down = True  # a miss (a new visitor) makes the request meet the outage
    split = r.split([linked, page("a12")], WEB)
    assert [(p.anonymous_id, p.reason, p.message_id) for p in split.unrecorded] == [
        ("a11", "linked", "m-11")
    ]
    assert len(split.engaged) == 2 and not split.cold
