"""The users job on the BigQuery emulator: traits merged key by key over all of a user's
identifies, the latest value of each key winning, and a second run changing nothing.

The tests share one set of datasets (creating one costs the emulator many seconds): each test
has its own user ids and message ids and looks only at its own users, and counts what the job
added to the table rather than what the table holds."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery import BigQueryWarehouse
from shared.bootstrap import Services
from shared.envelope import Envelope
from shared.jobs import run_job
from shared.local.emulators import EmulatorPorts
from shared.ports.clock import SystemClock
from shared.warehouse.layers import CURATED, PROCESSED, RAW, USERS_VIEW
from shared.warehouse.users import DEFAULT_DAYS, Identify, merge_traits
from tests.integration.test_warehouse_loader import services_for, shared_prefix

NOW = SystemClock().now()
SIGNUP = {"email": "ann@example.com", "first_name": "Ann", "plan": "free"}


@pytest.fixture(scope="module")
def prefix(emulators: EmulatorPorts) -> str:
    """What the loader writes for an identify, the users table and its typed view."""
    return shared_prefix(emulators, RAW, PROCESSED, f"{CURATED}.{USERS_VIEW}")


@pytest.fixture
def services(bigquery: BigQueryWarehouse, prefix: str) -> Services:
    return services_for(bigquery, prefix)


def identify(
    user: str,
    message_id: str,
    at: str,
    traits: dict[str, Any] | None,
    received: datetime = NOW,
    anonymous_id: str | None = None,
) -> dict[str, Any]:
    """An identify whose messageId is ``<user>/<message_id>``: no two tests share one (it is
    the insertId), and one user's ids sort as their ``message_id``s do."""
    return {
        "type": "identify",
        "userId": user,
        "anonymousId": anonymous_id,
        "messageId": f"{user}/{message_id}",
        "timestamp": at,
        "receivedAt": received.isoformat(),
        "traits": traits,
    }


def load(services: Services, *events: dict[str, Any]) -> None:
    services.loader.handle(Envelope("events", list(events), {}))


def users(bigquery: BigQueryWarehouse, prefix: str, mine: str) -> dict[str, dict[str, Any]]:
    """The rows of the users whose id starts ``mine``-, by user id."""
    rows = bigquery.query(
        f"SELECT * FROM `it_{prefix}_processed.users` WHERE STARTS_WITH(user_id, @mine)",
        {"mine": f"{mine}-"},
    )
    return {row["user_id"]: row for row in rows}


def added_users(services: Services, bigquery: BigQueryWarehouse, prefix: str) -> int:
    """Run the users job; how many rows it added to the table (its count is of all rows)."""
    [before] = bigquery.query(f"SELECT COUNT(*) AS n FROM `it_{prefix}_processed.users`")
    return int(run_job("warehouse-users", services)["users"]) - int(before["n"])


def test_a_partial_identify_keeps_the_keys_it_left_out(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user = f"{unique}-ann"
    load(services, identify(user, "signup", "2026-11-20T10:00:00Z", SIGNUP, anonymous_id="web"))
    load(services, identify(user, "login", "2026-11-21T10:00:00Z", {"email": "ann@new.io"}))
    assert added_users(services, bigquery, prefix) == 1
    row = users(bigquery, prefix, unique)[user]
    assert row["traits"] == {"email": "ann@new.io", "first_name": "Ann", "plan": "free"}
    assert (row["message_id"], row["anonymous_id"]) == (f"{user}/login", None)  # the latest's
    assert row["first_seen_at"].isoformat().startswith("2026-11-20T10:00")
    assert row["updated_at"].isoformat().startswith("2026-11-21T10:00")
    [typed] = bigquery.query(
        f"SELECT plan, email FROM `it_{prefix}_curated.users` WHERE user_id = @user",
        {"user": user},
    )
    assert typed == {"plan": "free", "email": "ann@new.io"}


def test_each_key_takes_its_value_from_the_latest_identify_that_sent_it(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user = f"{unique}-u"
    early, late = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)
    tie = "2026-11-21T10:00:00Z"
    load(  # loaded newest first: the order of arrival in the table decides nothing
        services,
        identify(user, "m3", "2026-11-22T09:00:00Z", {"plan": "pro"}),
        identify(user, "m2-b", tie, {"email": "b@x.io", "team": "b"}, received=early),
        identify(user, "m2-a", tie, {"email": "a@x.io", "team": "a", "seat": "a"}, received=late),
        identify(user, "m2-c", tie, {"seat": "c"}, received=late),
        identify(user, "m1", "2026-11-20T10:00:00Z", {**SIGNUP, "team": "first"}),
    )
    run_job("warehouse-users", services)
    row = users(bigquery, prefix, unique)[user]
    # Same event time: received_at decides (m2-a over m2-b), then the message id (m2-c over m2-a).
    assert row["traits"] == {
        "email": "a@x.io", "first_name": "Ann", "plan": "pro", "team": "a", "seat": "c"
    }  # fmt: skip
    assert row["message_id"] == f"{user}/m3"


def test_a_late_older_identify_adds_only_keys_nobody_sent_since(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user = f"{unique}-u"
    load(services, identify(user, "m1", "2026-11-20T10:00:00Z", SIGNUP))
    load(services, identify(user, "m2", "2026-11-21T10:00:00Z", {"plan": "pro"}))
    assert added_users(services, bigquery, prefix) == 1
    late_and_older = {"plan": "trial", "email": "old@x.io", "company": "Acme"}
    load(services, identify(user, "m0", "2026-11-19T10:00:00Z", late_and_older))
    assert added_users(services, bigquery, prefix) == 0  # the same user's row, updated
    row = users(bigquery, prefix, unique)[user]
    assert row["traits"] == {**SIGNUP, "plan": "pro", "company": "Acme"}
    assert row["first_seen_at"].isoformat().startswith("2026-11-19")
    assert row["updated_at"].isoformat().startswith("2026-11-21")
    assert row["message_id"] == f"{user}/m2"


def test_keys_with_dots_spaces_or_nesting_are_top_level_keys(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user = f"{unique}-u"
    first = {
        "utm.source": "news",
        "first name": "Ann",
        "a-b": 1,
        'say "hi"': True,
        "address": {"city": "Paris", "geo": {"lat": 48.8}},
        "tags": [{"k": "v"}, 2],
    }
    load(services, identify(user, "m1", "2026-11-20T10:00:00Z", first))
    load(services, identify(user, "m2", "2026-11-21T10:00:00Z", {"address": {"zip": "75001"}}))
    run_job("warehouse-users", services)
    # A nested object is one value: the latest address replaces the whole object.
    assert users(bigquery, prefix, unique)[user]["traits"] == {
        **first, "address": {"zip": "75001"}
    }  # fmt: skip


def test_values_of_every_json_kind_survive_and_an_explicit_null_clears(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user = f"{unique}-u"
    kinds = {
        "ratio": 0.1, "huge": 1e300, "id": 9007199254740993, "neg": -5, "flag": False,
        "text": 'é😀 line\nbreak\ttab "quoted" \\ \u0001', "empty": "", "list": [1, "a", None],
        "phone": "+33 1 23",
    }  # fmt: skip
    load(services, identify(user, "m1", "2026-11-20T10:00:00Z", kinds))
    load(services, identify(user, "m2", "2026-11-21T10:00:00Z", {"phone": None}))
    run_job("warehouse-users", services)
    assert users(bigquery, prefix, unique)[user]["traits"] == {**kinds, "phone": None}


def test_older_identifies_count_even_when_received_before_the_window(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    user, idle = f"{unique}-u", f"{unique}-idle"
    long_ago = NOW - timedelta(days=DEFAULT_DAYS + 8)
    load(
        services,
        identify(user, "m1", "2026-11-01T10:00:00Z", SIGNUP, received=long_ago),
        identify(idle, "i1", "2026-11-01T10:00:00Z", SIGNUP, received=long_ago),
        identify(user, "m2", "2026-11-21T10:00:00Z", {"email": "ann@new.io"}),
    )
    assert added_users(services, bigquery, prefix) == 1
    mine = users(bigquery, prefix, unique)
    assert set(mine) == {user}  # idle: nothing recent
    assert mine[user]["traits"] == {**SIGNUP, "email": "ann@new.io"}
    assert mine[user]["first_seen_at"].isoformat().startswith("2026-11-01")


def test_a_second_run_changes_nothing_and_a_new_identify_changes_one_row(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    ann, bob = f"{unique}-ann", f"{unique}-bob"
    load(
        services,
        identify(ann, "a1", "2026-11-20T10:00:00Z", {**SIGNUP, "score": 0.1, "bio": "a\nb"}),
        identify(ann, "a2", "2026-11-21T10:00:00Z", {"email": "ann@new.io"}),
        identify(bob, "b1", "2026-11-20T10:00:00Z", None),
    )
    run_job("warehouse-users", services)
    first = users(bigquery, prefix, unique)
    assert set(first) == {ann, bob}
    assert first[bob]["traits"] == {}
    run_job("warehouse-users", services)
    assert users(bigquery, prefix, unique) == first  # refreshed_at included: no row rewritten
    load(services, identify(bob, "b2", "2026-11-21T10:00:00Z", {"plan": "free"}))
    run_job("warehouse-users", services)
    after = users(bigquery, prefix, unique)
    assert after[ann] == first[ann]
    assert after[bob]["traits"] == {"plan": "free"}
    assert after[bob]["refreshed_at"] > first[bob]["refreshed_at"]


def test_random_histories_match_the_merge_rule(
    services: Services, bigquery: BigQueryWarehouse, prefix: str, unique: str
) -> None:
    """Many users, partial identifies over a few keys, many ties: the SQL agrees with
    ``merge_traits`` on every user."""
    rng = random.Random(7)
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    received = [NOW - timedelta(minutes=m) for m in (1, 2, 3)]
    events, expected = [], {}
    for u in range(12):
        user, history = f"{unique}-{u}", []
        for n in range(rng.randint(1, 6)):
            keys = rng.sample(["email", "plan", "name", "a.b", "seats"], rng.randint(0, 3))
            traits = {k: f"{k}-{u}-{n}" for k in keys}
            at, got = f"{rng.choice(days)}T10:00:00+00:00", rng.choice(received)
            message_id = f"{rng.randint(0, 99):02d}-{u}-{n}"
            event = identify(user, message_id, at, traits, received=got)
            history.append(Identify(event["messageId"], datetime.fromisoformat(at), got, traits))
            events.append(event)
        expected[user] = merge_traits(history)
    rng.shuffle(events)
    load(services, *events)
    assert added_users(services, bigquery, prefix) == len(expected)
    assert {u: row["traits"] for u, row in users(bigquery, prefix, unique).items()} == expected
