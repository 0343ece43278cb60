"""Warehouse access under Pulumi's mocks: the PII-bearing layers start with the project's owners
only, every curated and analytics view is authorised on each dataset it reads, and analysts
read the analytics dataset and nothing else."""

from __future__ import annotations

import pulumi
import pytest

from infra.components.access import (
    WarehouseAccess,
    WarehouseAccessArgs,
    authorisations,
    authorised_datasets,
    member_entry,
    restricted_datasets,
)
from infra.components.datastores import Datastores, DatastoresArgs
from infra.config import analyst_members
from infra.errors import ConfigError
from shared.governance.plan import load_plan
from shared.settings import Settings
from shared.warehouse.access import ANALYTICS, analytics_dataset
from shared.warehouse.tables import datasets
from tests.infra.conftest import Deployed
from tests.infra.mocks import DATASET, PROJECT, run

DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"
PROJECT_GRANT = "gcp:projects/iAMMember:IAMMember"
ANALYSTS = "group:analysts@example.com"
SETTINGS = Settings(project_id=PROJECT, dataset_prefix="acc")


@pytest.mark.parametrize(
    ("member", "entry"),
    [
        (ANALYSTS, {"group_by_email": "analysts@example.com"}),
        ("user:ann@example.com", {"user_by_email": "ann@example.com"}),
        (
            "serviceAccount:bi@p.iam.gserviceaccount.com",
            {"user_by_email": "bi@p.iam.gserviceaccount.com"},
        ),
        ("domain:example.com", {"domain": "example.com"}),
    ],
)
def test_members_map_to_dataset_entries(member: str, entry: dict[str, str]) -> None:
    assert member_entry(member) == entry


@pytest.mark.parametrize("raw", ["allUsers", "group:", "group:not-an-email", "[1]", '["user"]'])
def test_an_ungrantable_analysts_member_fails_the_preview(raw: str) -> None:
    with pytest.raises(ConfigError):
        analyst_members(raw)


def test_analysts_config_takes_one_member_or_a_list() -> None:
    assert analyst_members(None) == ()
    assert analyst_members(ANALYSTS) == (ANALYSTS,)
    assert analyst_members(f'["{ANALYSTS}", "user:ann@example.com"]') == (
        ANALYSTS,
        "user:ann@example.com",
    )


def test_each_view_is_authorised_on_what_it_reads_and_not_on_its_own_dataset() -> None:
    declared = (*datasets(SETTINGS), analytics_dataset(SETTINGS, load_plan()))
    found = set(authorisations(declared, authorised_datasets(SETTINGS)))
    assert ("acc_analytics.users", "acc_curated") in found
    assert ("acc_curated.users", "acc_processed") in found
    assert ("acc_curated.event_profiles", "acc_raw") in found
    assert {read for _, read in found} == {"acc_raw", "acc_processed", "acc_curated"}
    assert not [view for view, read in found if view.startswith(read + ".")]
    assert not [view for view, _ in found if view.startswith("acc_events.")]  # not authorised


def test_the_warehouse_grants(deployed: Deployed) -> None:
    declared = (*datasets(SETTINGS), analytics_dataset(SETTINGS, load_plan()))
    before = len(deployed.mocks.declared)

    def declare() -> pulumi.Output[list[str]]:
        stores = Datastores(
            "access-check",
            DatastoresArgs(
                project=PROJECT,
                firestore_database="access-check",
                firestore_location="europe-west1",
                datasets=declared,
                bigquery_location="EU",
                restricted=restricted_datasets(SETTINGS),
            ),
        )
        grants = WarehouseAccess(
            "access-check",
            WarehouseAccessArgs(
                project=PROJECT,
                declared=declared,
                datasets=stores.datasets,
                views=stores.views,
                authorised=authorised_datasets(SETTINGS),
                readers={SETTINGS.dataset(ANALYTICS): (ANALYSTS,)},
            ),
        )
        return pulumi.Output.from_input(sorted(grants.views))

    run(declare)
    mine = deployed.mocks.declared[before:]
    sets = {d["datasetId"]: d.get("accesses") for d in mine if d.typ == DATASET}
    owners_only = [{"role": "OWNER", "specialGroup": "projectOwners"}]
    for layer in ("raw", "processed", "curated", "analytics"):
        assert sets[f"acc_{layer}"] == owners_only, layer  # no projectReaders, no projectWriters
    assert not sets["acc_ops"] and not sets["acc_events"]  # BigQuery's defaults

    entries = [d for d in mine if d.typ == DATASET_ACCESS]
    views = {
        (d["view"]["datasetId"], d["view"]["tableId"], d["datasetId"])
        for d in entries
        if "view" in d
    }
    assert ("acc_analytics", "users", "acc_curated") in views
    assert ("acc_curated", "users", "acc_processed") in views
    assert ("acc_curated", "event_profiles", "acc_raw") in views
    assert ("acc_curated", "identity_map", "acc_processed") in views
    readers = [
        (d["datasetId"], d.get("role"), d.get("groupByEmail")) for d in entries if "view" not in d
    ]
    assert readers == [("acc_analytics", "READER", "analysts@example.com")]  # and nowhere else
    jobs = [(d["role"], d["member"]) for d in mine if d.typ == PROJECT_GRANT]
    assert jobs == [("roles/bigquery.jobUser", ANALYSTS)]  # to run queries; no data role
