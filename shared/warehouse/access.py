"""The analysts' dataset: authorised views over the curated layer without email, phone or names.

Those live inside JSON columns (``payload``, ``traits``, ``context``) of the raw, processed and
curated layers, where a column-level policy tag cannot reach them. So access is by dataset:
raw, processed and curated are readable only by the pipeline's service accounts, and analysts
read ``<prefix>_analytics``, whose views select explicit columns (a column added upstream does
not leak through ``*``), drop the typed trait columns that hold those values and remove their
keys from ``traits`` with ``JSON_REMOVE``. Each view is authorised on the dataset it reads
(``infra/components/access.py``), so analysts need no grant on the layers beneath.

Only top-level keys are removed, one ``JSON_REMOVE`` per key: the emulator takes one path per
call, and a NULL in gives NULL out only with the ``CASE`` (the emulator returns an object).
"""

from __future__ import annotations

import re

from shared.governance.plan import TrackingPlan
from shared.ports.warehouse import Dataset, View
from shared.settings import Settings
from shared.warehouse.layers import CURATED, EVENT_PROFILES_VIEW, IDENTITY_MAP_VIEW, USERS_VIEW
from shared.warehouse.processed import USERS_COLUMNS

ANALYTICS = "analytics"

# Keys that hold a person's contact details or name, as Segment's reserved traits spell them.
PERSONAL_KEYS = (
    "email",
    "phone",
    "name",
    "first_name",
    "last_name",
    "firstName",
    "lastName",
    "username",
    "address",
)
# The identity map's rows analysts see: pseudonymous ids only (an email or phone identifier,
# or any external id type added later, stays out until listed here).
PSEUDONYMOUS_IDS = ("user_id", "anonymous_id", "device_id", "ga_client_id", "advertising_id")

EVENT_PROFILE_COLUMNS = (
    "message_id",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "source_id",
    "timestamp",
    "received_at",
    "tier",
    "profile_id",
)
IDENTITY_MAP_COLUMNS = (
    "identifier_type",
    "identifier_value",
    "profile_id",
    "valid_from",
    "valid_to",
    "change",
    "change_id",
    "message_id",
)
_TABLE_REFERENCE = re.compile(r"`([^`.]+)\.([^`.]+)\.([^`.]+)`")


def without_keys(column: str, keys: tuple[str, ...] = PERSONAL_KEYS) -> str:
    """``column`` with each top-level key of ``keys`` removed; NULL stays NULL."""
    expression = column
    for key in keys:
        expression = f"JSON_REMOVE({expression}, '$.{key}')"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {expression} END"


def _select(columns: list[str], source: str, where: str = "") -> str:
    return "SELECT\n  " + ",\n  ".join(columns) + f"\nFROM `{source}`\n" + where


def analytics_views(settings: Settings, plan: TrackingPlan) -> tuple[View, ...]:
    name = settings.table
    kept_traits = [t for t in plan.traits if t not in PERSONAL_KEYS]
    base = [c.name for c in USERS_COLUMNS if c.name != "traits"]
    # curated.users prefixes a trait named like a base column with ``traits_``.
    typed = [f"traits_{t}" if t in {*base, "traits"} else t for t in kept_traits]
    users = _select(
        [*(f"`{c}`" for c in [*base, *typed]), f"{without_keys('traits')} AS traits"],
        name(CURATED, USERS_VIEW),
    )
    ids = ", ".join(f"'{t}'" for t in PSEUDONYMOUS_IDS)
    identity = _select(
        [f"`{c}`" for c in IDENTITY_MAP_COLUMNS],
        name(CURATED, IDENTITY_MAP_VIEW),
        f"WHERE identifier_type IN ({ids})\n",
    )
    profiles = _select(
        [f"`{c}`" for c in EVENT_PROFILE_COLUMNS], name(CURATED, EVENT_PROFILES_VIEW)
    )
    return (
        View(USERS_VIEW, users, "Users, without email, phone or names (typed or in traits)."),
        View(IDENTITY_MAP_VIEW, identity, "The identity map, pseudonymous identifiers only."),
        View(EVENT_PROFILES_VIEW, profiles, "Every event, engaged or cold, with its profile id."),
    )


def analytics_dataset(settings: Settings, plan: TrackingPlan) -> Dataset:
    return Dataset(
        settings.dataset(ANALYTICS),
        description="For analysts: authorised views of the curated layer, without PII keys.",
        views=analytics_views(settings, plan),
    )


def datasets_read(query: str) -> tuple[str, ...]:
    """The datasets a view's query names (`project.dataset.table`), in order: where it must be
    authorised."""
    found: list[str] = []
    for _, dataset, _ in _TABLE_REFERENCE.findall(query):
        if dataset not in found:
            found.append(dataset)
    return tuple(found)
