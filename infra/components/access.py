"""Who reads the warehouse: restricted layers, authorised views, the analysts' dataset.

Email, phone and names sit inside JSON columns of the raw, processed and curated layers, so
they are protected by dataset: those datasets (and the analysts' own) start with the project's
owners as their only entry (``restricted_datasets``; see ``Datastores``), the functions' accounts
get theirs from ``infra/access.py``, and each view of an ``authorised`` dataset is authorised on
every dataset its query reads. Analysts (``cdp:analysts``) read ``<prefix>_analytics`` only,
whose views drop those keys (``shared/warehouse/access.py``), and may run query jobs.

Every entry is a ``gcp.bigquery.DatasetAccess``: the provider's dataset IAM resources rewrite
the whole access list without its authorised views, so they must not be used on these datasets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from shared.ports.warehouse import Dataset
from shared.settings import Settings
from shared.warehouse.access import ANALYTICS, datasets_read
from shared.warehouse.layers import CURATED, PROCESSED, RAW

READER = "READER"  # BigQuery's basic role; roles/bigquery.dataViewer would be swapped for it
JOB_USER = "roles/bigquery.jobUser"
MEMBER_FIELDS = {  # IAM member prefix → the DatasetAccess field that names it
    "group": "group_by_email",
    "user": "user_by_email",
    "serviceAccount": "user_by_email",
    "domain": "domain",
}
BAD_MEMBER = (
    "cdp:analysts: {member!r} is not a member BigQuery can grant; use group:<email>, "
    "user:<email>, serviceAccount:<email> or domain:<domain>"
)


def _slug(member: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", member)


def restricted_datasets(settings: Settings) -> frozenset[str]:
    """Readable only by explicit grants: every PII-bearing layer, and the analysts' dataset."""
    return frozenset(settings.dataset(layer) for layer in (RAW, PROCESSED, CURATED, ANALYTICS))


def authorised_datasets(settings: Settings) -> frozenset[str]:
    """Datasets whose views read restricted layers for their readers."""
    return frozenset(settings.dataset(layer) for layer in (CURATED, ANALYTICS))


def member_entry(member: str) -> dict[str, str]:
    """``group:a@b.com`` → ``{"group_by_email": "a@b.com"}``; anything else is refused."""
    kind, _, who = member.partition(":")
    if kind not in MEMBER_FIELDS or not who or (kind != "domain" and "@" not in who):
        raise ValueError(BAD_MEMBER.format(member=member))
    return {MEMBER_FIELDS[kind]: who}


def authorisations(
    declared: Sequence[Dataset], authorised: frozenset[str]
) -> list[tuple[str, str]]:
    """(view ``dataset.name``, dataset it must be authorised on), each once; its own dataset
    needs no entry."""
    found: list[tuple[str, str]] = []
    for dataset in declared:
        if dataset.name not in authorised:
            continue
        for view in dataset.views:
            found += [
                (f"{dataset.name}.{view.name}", read)
                for read in datasets_read(view.query)
                if read != dataset.name
            ]
    return found


@dataclass(frozen=True)
class WarehouseAccessArgs:
    project: str
    declared: Sequence[Dataset]
    datasets: Mapping[str, gcp.bigquery.Dataset]  # Datastores' resources, by dataset name
    views: Mapping[str, gcp.bigquery.Table]  # by "dataset.view"
    authorised: frozenset[str]
    readers: Mapping[str, Sequence[str]] = field(default_factory=dict)  # dataset → members


class WarehouseAccess(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: WarehouseAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:WarehouseAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.views: dict[str, gcp.bigquery.DatasetAccess] = {}
        for view, read in authorisations(args.declared, args.authorised):
            dataset = view.split(".", 1)[0]
            self.views[f"{view}@{read}"] = gcp.bigquery.DatasetAccess(
                f"authorise-{view}-on-{read}",
                project=args.project,
                dataset_id=args.datasets[read].dataset_id,
                view=gcp.bigquery.DatasetAccessViewArgs(
                    project_id=args.project,
                    dataset_id=args.datasets[dataset].dataset_id,
                    table_id=args.views[view].table_id,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.views[view]]),
            )
        self.readers: dict[str, gcp.bigquery.DatasetAccess] = {}
        for dataset, members in args.readers.items():
            for member in members:
                entry = member_entry(member)
                self.readers[f"{dataset}:{member}"] = gcp.bigquery.DatasetAccess(
                    f"{dataset}-reader-{_slug(member)}",
                    project=args.project,
                    dataset_id=args.datasets[dataset].dataset_id,
                    role=READER,
                    group_by_email=entry.get("group_by_email"),
                    user_by_email=entry.get("user_by_email"),
                    domain=entry.get("domain"),
                    opts=child,
                )
        everyone = sorted({m for members in args.readers.values() for m in members})
        self.jobs = [
            gcp.projects.IAMMember(
                f"reader-{_slug(member)}-jobuser",
                project=args.project,
                role=JOB_USER,
                member=member,
                opts=child,
            )
            for member in everyone
        ]
        self.register_outputs({"authorised_views": sorted(self.views)})
