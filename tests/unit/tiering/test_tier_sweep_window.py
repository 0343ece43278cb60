"""Which identity assignments a promotion sweep handles: from where the last success got to
(less an overlap; never more than the lookback ago, the first time exactly that) until the
settle delay ago; it moves only when told the whole job succeeded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.ports.documents import InMemoryDocumentStore
from shared.settings import Settings
from shared.tiering.sweep import OVERLAP, advance, sweep_window

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=5)
SETTINGS = Settings(tier_attribution_lookback_days=3, tier_sweep_settle_seconds=300)


def test_a_first_sweep_looks_back_the_lookback_and_leaves_the_last_minutes() -> None:
    since, until = sweep_window(InMemoryDocumentStore(), SETTINGS, NOW)
    assert (since, until) == (NOW - SETTLE - timedelta(days=3), NOW - SETTLE)


def test_later_sweeps_start_where_the_last_success_got_to_minus_the_overlap() -> None:
    documents = InMemoryDocumentStore()
    _, until = sweep_window(documents, SETTINGS, NOW)
    advance(documents, until)
    later = NOW + timedelta(minutes=10)
    assert sweep_window(documents, SETTINGS, later) == (until - OVERLAP, later - SETTLE)
    assert timedelta(minutes=10) <= OVERLAP  # at least one schedule interval of late loads


def test_after_a_long_outage_a_sweep_looks_back_no_further_than_the_lookback() -> None:
    documents = InMemoryDocumentStore()
    advance(documents, NOW - timedelta(days=30))
    since, until = sweep_window(documents, SETTINGS, NOW)
    assert since == until - timedelta(days=3)
