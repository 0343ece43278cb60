"""Where the promotion sweep starts looking for entered ids: the last success minus an overlap,
or the lookback on a first run; it moves only when told the whole job succeeded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.ports.documents import InMemoryDocumentStore
from shared.settings import Settings
from shared.tiering.sweep import OVERLAP, advance, sweep_since

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_a_first_sweep_looks_back_the_lookback() -> None:
    settings = Settings(tier_attribution_lookback_days=3)
    assert sweep_since(InMemoryDocumentStore(), settings, NOW) == NOW - timedelta(days=3)


def test_later_sweeps_start_where_the_last_success_got_to_minus_the_overlap() -> None:
    documents = InMemoryDocumentStore()
    advance(documents, NOW)
    later = NOW + timedelta(minutes=10)
    assert sweep_since(documents, Settings(), later) == NOW - OVERLAP
    assert timedelta(minutes=10) <= OVERLAP  # at least one schedule interval of late loads
    advance(documents, later)
    assert sweep_since(documents, Settings(), later) == later - OVERLAP
