"""The seeds' journey on the whole local stack, sent by the real Python SDK: desktop visit →
newsletter email → mobile install → signup on desktop → login on mobile → a backend
transaction with the userId only. One person results, with both anonymousIds, the email and
the userId, and `cdp profile explain` tells the story step by step."""

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
    holding("anonymous_id", desktop)
    # 2. The newsletter form leaves an email (as typed: spaces, capitals).
    web.identify(anonymous_id=desktop, traits={"email": f" {email.upper()} "}, timestamp=day(1, 10))
    holding("anonymous_id", desktop, email=[email])
    # 3. The mobile app installed on the bus: another anonymous id, another profile.
    ios.screen(anonymous_id=mobile, name="Welcome", timestamp=day(2))
    first_mobile = holding("anonymous_id", mobile)
    # 4. Signup on desktop: the userId joins the desktop profile.
    web.identify(user, {"email": email, "plan": "free"}, anonymous_id=desktop, timestamp=day(3))
    holding("user_id", user, anonymous_id=[desktop])
    # 5. Login on mobile: the mobile profile merges into the user's.
    ios.identify(user, {"plan": "pro"}, anonymous_id=mobile, timestamp=day(5))
    person = holding("user_id", user, anonymous_id=[desktop, mobile])
    # 6. A card payment seen by the backend, userId only.
    backend.track(user, "transaction_succeeded", {"amount": 42.5}, timestamp=day(6))

    def paid() -> dict[str, Any] | None:
        found = profiles.find(("user_id", user))
        return found if found and found["last_seen"].startswith("2026-03-06") else None

    person = eventually(paid, timeout=60)
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
    forwarded = profiles.store.get("profiles", first_mobile["profile_id"])
    assert forwarded is not None and forwarded["merged_into"] == person["profile_id"]

    got = json.loads(cdp(stack_env, "profile", "get", f"anonymous_id:{mobile}", "--json"))
    assert got["profile_id"] == person["profile_id"]
    story = json.loads(cdp(stack_env, "profile", "explain", f"email:{email}", "--json"))
    assert [(s["kind"], s["source_id"]) for s in story["steps"]] == [
        ("created", "web"),  # 1. desktop visit
        ("linked", "web"),  # 2. newsletter email
        ("created", "ios"),  # 3. mobile install
        ("linked", "web"),  # 4. signup
        ("merged", "ios"),  # 5. mobile login
    ]
    assert [hop["to"] for hop in story["paths"][f"anonymous_id:{mobile}"]] == [
        f"user_id:{user}",
        f"anonymous_id:{mobile}",
    ]
    text = cdp(stack_env, "profile", "explain", f"email:{email}")
    assert "merged" in text and f"anonymous_id:{mobile}" in text
