"""The seeds' journey on the whole local stack, sent by the real Python SDK: desktop visit →
newsletter email → mobile install → signup on desktop → login on mobile → a backend
transaction with the userId only. One person results, with both anonymousIds, the email and
the userId, and `cdp profile explain` tells the story step by step.

With engagement tiers on (the default), the anonymous visit and the anonymous app screen are
cold: they go to GA4 and the cold archive, not to identity, so the person starts at the
newsletter identify and the first visit's campaign reaches the profile through the promotion
sweep's first touch. (Merges of two existing profiles are shown on the Firestore emulator in
tests/integration/test_identity.py.)"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.firestore import FirestoreDocumentStore
from shared.bootstrap import use_services
from shared.cli import main
from shared.identity.profiles import ProfileRepository
from tests.e2e.conftest import eventually


def sdk(stack: dict[str, Any], source: str, errors: list[str]) -> Any:
    from segment.analytics import Client

    return Client(
        write_key=stack["write_keys"][source],
        host=stack["ingest_url"],
        sync_mode=True,
        max_retries=2,
        on_error=lambda error, _batch: errors.append(f"{source}: {error}"),
    )


@pytest.fixture
def cli_services() -> Iterator[None]:
    use_services(None)  # the CLI builds its own services from the stack's environment
    yield
    use_services(None)


def cdp(stack: dict[str, Any], *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--stack", str(Path(stack["state_dir"]) / "stack.json")])
    assert code == 0, out.getvalue()
    return out.getvalue()


def day(d: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, d, hour, tzinfo=UTC)


def test_the_seeds_journey_becomes_one_explained_person(
    stack_env: dict[str, Any], cli_services: None
) -> None:
    run = uuid.uuid4().hex[:8]
    desktop, mobile = f"aaa-{run}", f"bbb-{run}"
    user, email = f"97980cfea0067-{run}", f"fernando-{run}@example.com"
    errors: list[str] = []
    web, ios, backend = (sdk(stack_env, s, errors) for s in ("web", "ios", "backend"))
    profiles = ProfileRepository(FirestoreDocumentStore(stack_env["project_id"]))

    def holding(kind: str, value: str, **expected: list[str]) -> dict[str, Any]:
        """Wait until the profile of kind:value holds (at least) the expected identifiers."""

        def probe() -> dict[str, Any] | None:
            found = profiles.find((kind, value))
            if found and all(
                set(v) <= set(found["identifiers"].get(k, [])) for k, v in expected.items()
            ):
                return found
            return None

        return eventually(probe, timeout=60)

    # 1. Desktop, anonymous, from a newsletter campaign.
    web.page(
        anonymous_id=desktop,
        name="Home",
        timestamp=day(1),
        context={
            "campaign": {"name": "spring", "source": "news"},
            "page": {"url": "https://example.com/", "referrer": "https://news.example.org/"},
        },
    )
    # 2. The newsletter form leaves an email (as typed: spaces, capitals): an identify is
    #    never cold, so the person starts here.
    web.identify(anonymous_id=desktop, traits={"email": f" {email.upper()} "}, timestamp=day(1, 10))
    holding("anonymous_id", desktop, email=[email])
    # 3. The mobile app installed on the bus: another anonymous id, a cold screen.
    ios.screen(anonymous_id=mobile, name="Welcome", timestamp=day(2))
    # 4. Signup on desktop: the userId joins the desktop profile.
    web.identify(user, {"email": email, "plan": "free"}, anonymous_id=desktop, timestamp=day(3))
    holding("user_id", user, anonymous_id=[desktop])
    assert profiles.find(("anonymous_id", mobile)) is None  # the cold screen made no profile
    # 5. Login on mobile: the mobile id joins the user's profile.
    ios.identify(user, {"plan": "pro"}, anonymous_id=mobile, timestamp=day(5))
    person = holding("user_id", user, anonymous_id=[desktop, mobile])
    # 6. A card payment seen by the backend, userId only.
    backend.track(user, "transaction_succeeded", {"amount": 42.5}, timestamp=day(6))

    def paid() -> dict[str, Any] | None:
        found = profiles.find(("user_id", user))
        return found if found and found["last_seen"].startswith("2026-03-06") else None

    person = eventually(paid, timeout=60)

    def first_touch() -> dict[str, Any] | None:
        """The sweep finds the desktop id's first, cold visit once the archive holds it."""
        cdp(stack_env, "jobs", "run", "tier-promotion-sweep")
        found = profiles.find(("user_id", user))
        return found if found and found.get("first_touch", {}).get("campaign") else None

    person = eventually(first_touch, timeout=60, every=2.0)
    assert errors == []
    assert person["identifiers"] == {
        "anonymous_id": sorted([desktop, mobile]),
        "email": [email],
        "user_id": [user],
    }
    assert (
        person["traits"]["plan"]["value"] == "pro" and person["traits"]["plan"]["source"] == "ios"
    )
    assert person["first_touch"]["campaign"] == {"name": "spring", "source": "news"}
    assert person["first_touch"]["referrer"] == "https://news.example.org/"

    got = json.loads(cdp(stack_env, "profile", "get", f"anonymous_id:{mobile}", "--json"))
    assert got["profile_id"] == person["profile_id"]
    story = json.loads(cdp(stack_env, "profile", "explain", f"email:{email}", "--json"))
    assert [(s["kind"], s["source_id"]) for s in story["steps"]] == [
        ("created", "web"),  # 2. newsletter email, with the desktop id
        ("linked", "web"),  # 4. signup
        ("linked", "ios"),  # 5. mobile login
    ]
    hops = [hop["to"] for hop in story["paths"][f"anonymous_id:{mobile}"]]
    assert hops[-1] == f"anonymous_id:{mobile}" and f"user_id:{user}" in hops
    text = cdp(stack_env, "profile", "explain", f"email:{email}")
    assert "linked" in text and f"anonymous_id:{mobile}" in text


def test_the_seeds_journey_with_alias_joins_the_anonymous_visit_everywhere(
    stack_env: dict[str, Any], cli_services: None
) -> None:
    """The seeds tell apps to call ``alias(previousId=anonymousId, userId)`` the moment account
    creation completes: the cold, anonymous visit before it joins the person, in Firestore and
    in the warehouse (through the identity map)."""
    from shared.adapters.bigquery import BigQueryWarehouse
    from shared.settings import Settings
    from shared.tiering.history import cold_history

    run = uuid.uuid4().hex[:8]
    desktop, user = f"aaa-{run}", f"97980cfea0067-{run}"
    errors: list[str] = []
    web, backend = (sdk(stack_env, s, errors) for s in ("web", "backend"))
    web.page(anonymous_id=desktop, name="Home", timestamp=day(1), message_id=f"{run}-visit")
    web.alias(desktop, user, timestamp=day(3))  # account created
    web.identify(user, {"plan": "free"}, timestamp=day(3, 10))  # userId only, as the SDK sends
    backend.track(user, "transaction_succeeded", {"amount": 42.5}, timestamp=day(6))
    profiles = ProfileRepository(FirestoreDocumentStore(stack_env["project_id"]))

    def joined() -> dict[str, Any] | None:
        found = profiles.find(("anonymous_id", desktop))
        return found if found and user in found["identifiers"].get("user_id", []) else None

    person = eventually(joined, timeout=60)
    assert person["identifiers"]["anonymous_id"] == [desktop]
    settings = Settings(project_id=stack_env["project_id"])
    bigquery = BigQueryWarehouse(
        stack_env["project_id"], "EU", stack_env["environment"]["CDP_BIGQUERY_ENDPOINT"]
    )
    history = eventually(lambda: cold_history(settings, bigquery, user), timeout=60)
    assert [r["message_id"] for r in history] == [f"{run}-visit"]
    assert errors == []
