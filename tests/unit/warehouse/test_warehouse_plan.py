"""The tracking plan and what the warehouse declares from it: typed views, partitioned and
clustered tables, every layer."""

from __future__ import annotations

import pydantic
import pytest

from shared.governance.plan import load_plan, parse_plan
from shared.ports.warehouse import InMemoryWarehouse
from shared.settings import Settings
from shared.warehouse.processed import BASE_COLUMNS
from shared.warehouse.tables import datasets
from shared.warehouse.views import EVENT_BASE, event_view_sql, users_view_sql

SETTINGS = Settings(project_id="p")


def test_the_shipped_plan_is_the_seeds_fintech_taxonomy() -> None:
    plan = load_plan()
    assert {
        "account_created",
        "kyc_started",
        "bank_account_linked",
        "transaction_initiated",
    } <= set(plan.events)
    typed = plan.typed_properties("transaction_initiated")
    assert {n: p.bigquery_type for n, p in typed.items() if p.required} == {
        "platform": "STRING",
        "session_id": "STRING",
        "amount": "FLOAT64",
        "type": "STRING",
        "method": "STRING",
    }


@pytest.mark.parametrize(
    "text",
    [
        "events: {TransactionDone: {}}",
        "events: {a: {properties: {Amount: {type: number}}}}",
        "events: {a: {properties: {amount: {type: money}}}}",
    ],
)
def test_a_plan_with_bad_names_or_types_is_refused(text: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        parse_plan(text)


def test_typed_view_casts_safely_and_keeps_the_json() -> None:
    plan = parse_plan(
        "events: {paid: {properties: {amount: {type: number}, user_id: {type: string},"
        " ok: {type: boolean}, order: {type: string}, context: {type: string}}}}"
    )
    sql = event_view_sql("p.d.tracks", "paid", plan.typed_properties("paid"))
    assert "SAFE_CAST(JSON_VALUE(properties, '$.amount') AS FLOAT64) AS `amount`" in sql
    assert "SAFE_CAST(JSON_VALUE(properties, '$.ok') AS BOOL) AS `ok`" in sql
    assert "JSON_VALUE(properties, '$.order') AS `order`" in sql  # a reserved word, quoted
    # A property named like a base column is prefixed, so the view's columns stay unique.
    assert "AS `properties_user_id`" in sql and "AS `properties_context`" in sql
    assert "properties,\n  context" in sql and "WHERE event = 'paid'" in sql
    assert set(EVENT_BASE) <= {c.name for c in BASE_COLUMNS}


def test_users_view_types_the_planned_traits() -> None:
    plan = parse_plan("traits: {created_at: {type: timestamp}, plan: {type: string}}")
    sql = users_view_sql("p.d.users", plan.traits)
    assert "SAFE_CAST(JSON_VALUE(traits, '$.created_at') AS TIMESTAMP) AS `created_at`" in sql


def test_every_layer_is_declared_with_partitions_clustering_and_views() -> None:
    declared = {d.name: d for d in datasets(SETTINGS)}
    assert set(declared) == {
        "cdp_raw",
        "cdp_processed",
        "cdp_curated",
        "cdp_events",
        "cdp_ops",
        "cdp_analytics",
    }
    ops = {t.name for t in declared["cdp_ops"].tables}
    assert {"failed_events", "deliveries", "violation_events", "quality_checks"} <= ops
    assert [v.name for v in declared["cdp_ops"].views] == ["violations"]
    processed = {t.name: t for t in declared["cdp_processed"].tables}
    for name in ("tracks", "identifies", "pages", "screens", "groups", "aliases"):
        assert processed[name].partition_field == "timestamp"
        assert processed[name].clustering[0] == "user_id"
    assert {"users", "identity_assignments"} <= set(processed)
    assert {"audience_trait_state", "audience_transitions"} <= set(processed)
    assert all(t.partition_field for d in declared.values() for t in d.tables)
    assert {v.name for v in declared["cdp_curated"].views} == {
        "identity_map",
        "event_profiles",
        "users",
        "audience_memberships",
    }
    assert {v.name for v in declared["cdp_events"].views} == set(load_plan().events)
    assert "`p.cdp_processed.tracks`" in declared["cdp_events"].views[0].query


def test_the_fake_records_views() -> None:
    warehouse = InMemoryWarehouse()
    warehouse.ensure(datasets(SETTINGS))
    assert "cdp_curated.identity_map" in warehouse.views
    assert "cdp_events.transaction_completed" in warehouse.views
