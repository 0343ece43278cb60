"""Audiences on the whole local stack, after demo traffic through the real SDK:

- ``cdp audiences run --json`` finds members in each of the five lifecycle stages;
- ``cdp audiences members KEY --json`` holds exactly the demo's people that an independent
  recomputation (tests/audience_oracle.py: plain Python over the raw events read back from
  ``cdp_raw.events`` and ``cdp_raw.cold_archive``) puts in KEY, for every audience;
- each entry of the run reached each destination that takes it exactly once, as that
  destination's stand-in recorded it, as the local stack subscribes them: Intercom and
  Amplitude every stage, Meta the direct-deposit audience only, Slack the churn-risk entries
  of high-value people only;
- a second run emits nothing and no stand-in gets anything new;
- later, one person who never linked a bank links one: the third run's transitions are the
  recomputation's (they leave activated_incomplete, enter funded_dormant), and each exit and
  entry reaches each destination that takes it once;
- ``cdp profile get user_id:X`` shows the person's computed traits and audiences, equal to the
  recomputation's.

The comparison covers the demo's people (userIds ``user-<SEED>-*``): other tests of the session
send people of their own, whom the run also computes (merged, deleted, suppressed ones among
them) and whom the recomputation's union-find over event links does not model.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.local.demo import run_demo
from shared.local.processes import patched_environ
from shared.local.stack_config import DEV_SOURCES
from shared.local.standins import PROVIDERS
from tests import audience_oracle as oracle
from tests.e2e.conftest import cli, eventually, post
from tests.e2e.test_demo_destinations import get
from tests.e2e.test_warehouse_demo import warehouse_of

pytestmark = [
    pytest.mark.timeout(600),  # the first test also waits for the stack and the demo
]
SEED = 41  # 24 visitors of seed 41: 12 sign-ups, every stage
VISITORS = 24
KINDS = {sid: kind for sid, _, kind in DEV_SOURCES}
ENTERED, EXITED = "Audience Entered", "Audience Exited"
TRANSITIONS = (
    "SELECT transition_id, audience_key, user_id, transition, reason, UNIX_SECONDS(at) AS "
    "at_seconds FROM `{project}.cdp_processed.audience_transitions` WHERE run_id = @run"
)
MAPPED = (
    "SELECT identifier_value, profile_id FROM `{project}.cdp_curated.identity_map` "
    "WHERE valid_to IS NULL AND identifier_type IN ('user_id', 'anonymous_id') "
    "AND identifier_value IN UNNEST(@ids)"
)
RAW = "SELECT TO_JSON_STRING(payload) AS payload FROM `{table}` WHERE received_at >= @since"


def mine(person: oracle.Person) -> bool:
    return any(u.startswith(f"user-{SEED}-") for u in person.user_ids)


def raw_events(stack: dict[str, Any], since: datetime) -> list[oracle.Event]:
    """Every stored event received since ``since``, engaged and cold, as the oracle reads it."""
    bq, project = warehouse_of(stack), stack["project_id"]
    payloads = [
        json.loads(row["payload"])
        for table in ("cdp_raw.events", "cdp_raw.cold_archive")
        for row in bq.query(RAW.format(table=f"{project}.{table}"), {"since": since})
    ]
    return oracle.events_of(payloads, KINDS)


def stand_ins(stack: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: get(f"{stack['standins'][name]}/_standin")["delivered"] for name in PROVIDERS}


def reached(delivered: list[dict[str, Any]], t: dict[str, Any]) -> int:
    """How often a stand-in got one transition's track: by its messageId (Amplitude's
    insert_id, Meta's event_id, Slack's message header), or, for Intercom's data events, by
    person, event name, audience and time."""
    name = ENTERED if t["transition"] == "entered" else EXITED
    by_id = sum(1 for d in delivered if d.get("key") == t["transition_id"])
    by_event = sum(
        1
        for d in delivered
        if d.get("event_name") == name
        and d.get("user_id") == t["user_id"]
        and (d.get("metadata") or {}).get("audience_key") == t["audience_key"]
        and d.get("created_at") == t["at_seconds"]
    )
    return by_id + by_event


def takes(destination: str, t: dict[str, Any], high_value: set[str]) -> int:
    """Whether a destination takes a transition, as the local stack subscribes them."""
    if destination in ("intercom", "amplitude"):  # every stage: events and user properties
        return 1
    if destination == "meta":  # the direct-deposit audience only
        return int(t["audience_key"] == "direct_deposit")
    if destination == "slack":  # the alert: high-value people entering churn risk
        entered = t["transition"] == "entered" and t["audience_key"] == "churn_risk"
        return int(entered and t["user_id"] in high_value)
    return 0


def deliveries(
    before: dict[str, list[dict[str, Any]]],
    after: dict[str, list[dict[str, Any]]],
    moves: list[dict[str, Any]],
    high_value: set[str],
) -> dict[str, Counter[tuple[int, int]]]:
    """(expected, got) per transition, counted per destination."""
    new = {name: after[name][len(before[name]) :] for name in PROVIDERS}
    return {
        name: Counter((takes(name, t, high_value), reached(new[name], t)) for t in moves)
        for name in PROVIDERS
    }


def transitions(stack: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The demo people's transitions of one run."""
    rows = warehouse_of(stack).query(
        TRANSITIONS.format(project=stack["project_id"]), {"run": run_id}
    )
    return [
        {**r, "at_seconds": int(r["at_seconds"])}
        for r in rows
        if str(r["user_id"] or "").startswith(f"user-{SEED}-")
    ]


def high_value(events: list[oracle.Event], at: datetime) -> set[str]:
    people = oracle.histories(events).items()
    return {u for p, h in people if mine(p) and oracle.high_value(h, at) for u in p.user_ids}


def settled(stack: dict[str, Any], seconds: float = 4.0) -> dict[str, list[dict[str, Any]]]:
    """The stand-ins' listings once nothing new arrived for ``seconds``."""
    last: list[tuple[int, ...]] = []

    def quiet() -> dict[str, list[dict[str, Any]]] | None:
        now = stand_ins(stack)
        last.append(tuple(len(v) for v in now.values()))
        enough = len(last) > seconds / 0.5 and len(set(last[-int(seconds / 0.5) :])) == 1
        return now if enough else None

    return eventually(quiet, timeout=90, every=0.5)


@pytest.fixture(scope="module")
def runs(stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The demo sent and stored; two audience runs; a bank linked; a third run; and what each
    place held after each."""
    with patched_environ(stack["environment"]):
        bq, project = warehouse_of(stack), stack["project_id"]
        started, clock = datetime.now(UTC), time.monotonic()
        report = run_demo(stack, visitors=VISITORS, seed=SEED)
        assert report.errors == [] and report.users >= 5

        def stored() -> bool:
            """Loaded, and each demo person one profile in the identity map."""
            found = raw_events(stack, started)
            people = [p for p in oracle.histories(found) if mine(p)]
            ids = {i for p in people for i in p.user_ids | p.anonymous_ids}
            profile = {
                r["identifier_value"]: r["profile_id"]
                for r in bq.query(MAPPED.format(project=project), {"ids": sorted(ids)})
            }
            split = [sorted(p.user_ids) for p in people if len({profile.get(i) for i in
                     p.user_ids | p.anonymous_ids}) != 1]  # fmt: skip
            waiting[:] = [len(found), report.total, len(people), report.users, split]
            loaded = len(found) >= report.total and len(people) == report.users
            return loaded and not split

        waiting: list[Any] = []
        try:
            eventually(stored, timeout=240, every=2.0)  # a bound: a loaded machine is slow
        except AssertionError as error:  # say what was missing
            raise AssertionError(
                f"{error}: events, sent, people, users, split: {waiting}"
            ) from None
        before = settled(stack)  # the demo's own deliveries done
        first = json.loads(cli(stack, "audiences", "run", "--json"))
        after_first = settled(stack)
        second = json.loads(cli(stack, "audiences", "run", "--json"))
        after_second = settled(stack)
        members = {
            key: json.loads(cli(stack, "audiences", "members", key, "--json"))
            for key in oracle.STAGES
        }
        events = raw_events(stack, started)
        # Later, one person who never linked a bank links one: they leave activated_incomplete.
        was = oracle.memberships(events, oracle.when(first["as_of"]))
        user = min(u for p in was["activated_incomplete"] if mine(p) for u in p.user_ids)
        props = {"platform": "web", "session_id": f"s-{SEED}-link", "bank": "Demo Bank"}
        link = {"userId": user, "event": "bank_account_linked", "properties": props}
        link["messageId"] = f"e2e-link-{SEED}"
        assert post(f"{stack['ingest_url']}/v1/track", link, stack["write_keys"]["web"])[0] == 200
        eventually(lambda: link["messageId"] in {e.message_id for e in raw_events(stack, started)})
        third = json.loads(cli(stack, "audiences", "run", "--json"))
        after_third = settled(stack)
        yield {
            "report": report,
            "events": events,
            "later": raw_events(stack, started),
            "runs": (first, second, third),
            "members": members,
            "listings": (before, after_first, after_second, after_third),
            "linked": user,
            "seconds": time.monotonic() - clock,
        }


def as_of(runs: dict[str, Any], n: int = 0) -> datetime:
    return oracle.when(runs["runs"][n]["as_of"])


def test_every_stage_has_members(runs: dict[str, Any]) -> None:
    first = runs["runs"][0]
    print(f"\nfirst run: {json.dumps(first)}\nthe demo and three runs took {runs['seconds']:.0f} s")
    assert first["emitted"] is True
    assert all(first["sizes"][key] > 0 for key in oracle.STAGES), first["sizes"]


def test_members_are_the_recomputed_memberships(runs: dict[str, Any]) -> None:
    expected = oracle.memberships(runs["events"], as_of(runs))
    for key in oracle.STAGES:
        ours = {frozenset(p.user_ids) for p in expected[key] if mine(p)}
        listed = {
            frozenset(m["user_ids"])
            for m in runs["members"][key]
            if any(u.startswith(f"user-{SEED}-") for u in m["user_ids"])
        }
        assert ours, key  # the demo alone fills each stage
        assert listed == ours, (key, sorted(map(sorted, listed ^ ours)))


def test_each_entry_reached_each_destination_that_takes_it_once(
    stack: dict[str, Any], runs: dict[str, Any]
) -> None:
    first = runs["runs"][0]
    moves = transitions(stack, first["run_id"])
    expected = oracle.memberships(runs["events"], as_of(runs))
    assert {(t["audience_key"], t["user_id"], t["transition"], t["reason"]) for t in moves} == {
        (key, u, "entered", "") for key, people in expected.items() for p in people if mine(p)
        for u in p.user_ids
    }  # fmt: skip
    before, after = runs["listings"][:2]
    found = deliveries(before, after, moves, high_value(runs["events"], as_of(runs)))
    print(f"\n{len(moves)} entries; (expected, reached) per destination: {found}")
    for name, counted in found.items():
        assert set(counted) <= {(0, 0), (1, 1)}, (name, counted)
    assert all(found[n][1, 1] for n in ("intercom", "amplitude", "meta", "slack")), found


def test_a_second_run_emits_nothing_and_no_stand_in_gets_anything(runs: dict[str, Any]) -> None:
    second = runs["runs"][1]
    assert second["events_emitted"] == 0 and second["profiles_written"] == 0
    assert sum(second["entered"].values()) == sum(second["exited"].values()) == 0
    after_first, after_second = runs["listings"][1:3]
    assert {n: len(v) for n, v in after_second.items()} == {
        n: len(v) for n, v in after_first.items()
    }


def test_leaving_an_audience_reaches_each_destination_that_takes_it_once(
    stack: dict[str, Any], runs: dict[str, Any]
) -> None:
    third, user = runs["runs"][2], runs["linked"]
    was = oracle.memberships(runs["events"], as_of(runs))
    now = oracle.memberships(runs["later"], as_of(runs, 2))

    def held(found: dict[str, set[oracle.Person]]) -> set[tuple[str, str]]:
        return {
            (k, u) for k, people in found.items() for p in people if mine(p) for u in p.user_ids
        }

    expected = {(k, u, "exited") for k, u in held(was) - held(now)} | {
        (k, u, "entered") for k, u in held(now) - held(was)
    }
    assert ("activated_incomplete", user, "exited") in expected
    moves = transitions(stack, third["run_id"])
    assert {(t["audience_key"], t["user_id"], t["transition"]) for t in moves} == expected
    before, after = runs["listings"][2:]
    found = deliveries(before, after, moves, high_value(runs["later"], as_of(runs, 2)))
    print(f"\nthird run: {sorted(expected)}; (expected, reached): {found}")
    for name, counted in found.items():
        assert set(counted) <= {(0, 0), (1, 1)}, (name, counted)
    assert found["intercom"][1, 1] == found["amplitude"][1, 1] == len(moves)


def test_profiles_show_the_recomputed_traits_and_audiences(
    stack: dict[str, Any], runs: dict[str, Any]
) -> None:
    at = as_of(runs, 2)  # the profiles as the last run left them
    people = {p: h for p, h in oracle.histories(runs["later"]).items() if mine(p)}
    for person, history in sorted(people.items(), key=lambda x: sorted(x[0].user_ids)):
        [user] = person.user_ids
        profile = json.loads(cli(stack, "profile", "get", f"user_id:{user}"))
        assert set(profile.get("audiences") or {}) == oracle.stages(history, at), user
        expected = {k: v for k, v in oracle.traits(history, at).items() if v is not None}
        got = profile.get("computed_traits") or {}
        assert set(got) == set(expected), user
        for key, value in expected.items():
            if isinstance(value, datetime):
                assert oracle.when(got[key]) == value, (user, key)
            elif isinstance(value, float):
                assert got[key] == pytest.approx(value), (user, key)
            else:
                assert got[key] == value, (user, key)
