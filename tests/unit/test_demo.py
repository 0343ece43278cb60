"""The demo's calls as its SDK clients receive them (a recording fake client, no HTTP): the
context each source's real SDK would add, the ids the destinations need, and the same journeys
for a seed as before the context was added (the figures in the README come from seed 7)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from shared.local.demo import DemoReport, run_demo

STACK = {"ingest_url": "http://demo.invalid", "write_keys": {s: s for s in
         ("web", "ios", "android", "backend")}}  # fmt: skip
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class Recorder:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def __init__(self, source: str) -> None:
        self.source = source

    def __getattr__(self, call: str) -> Any:
        return lambda **kwargs: Recorder.calls.append((self.source, call, kwargs))

    def flush(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


def demo(seed: int = 7, visitors: int = 40) -> tuple[DemoReport, list[tuple[str, str, Any]]]:
    Recorder.calls = []
    report = run_demo(STACK, visitors, seed, client=lambda key, _host, _report: Recorder(key))
    return report, Recorder.calls


def test_the_journeys_of_a_seed_are_what_they_were() -> None:
    report, calls = demo()
    assert report.sent == Counter(page=71, track=72, alias=7, identify=9, screen=2)
    assert (report.users, report.anonymous_visitors, len(calls)) == (7, 40, 161)
    again = [(s, c, {k: v for k, v in kw.items() if k != "timestamp"}) for s, c, kw in demo()[1]]
    assert again == [(s, c, {k: v for k, v in kw.items() if k != "timestamp"})
                     for s, c, kw in calls]  # fmt: skip


def test_each_source_sends_the_context_its_sdk_would() -> None:
    _, calls = demo(seed=11, visitors=60)
    assert {s for s, _, _ in calls} == {"web", "ios", "android", "backend"}
    for source, call, kwargs in calls:
        context = kwargs.get("context") or {}
        if source == "web":
            assert context["userAgent"].startswith("Mozilla/5.0"), call
            assert context["page"]["url"].startswith("https://app.example.com/"), call
        elif source == "backend":
            assert context == {} and kwargs.get("anonymous_id") is None
        else:
            assert context["device"]["type"] == source and kwargs["anonymous_id"]
            assert {"app", "os", "screen"} <= set(context)
            ids = {x["type"]: x["id"] for x in context["externalIds"]}
            assert ids["appsflyer_id"] and HEX32.match(ids["app_instance_id"])
            if context["device"]["adTrackingEnabled"]:
                assert context["device"]["advertisingId"] != context["device"]["id"]
            else:
                assert "advertisingId" not in context["device"]


def test_people_of_two_seeds_share_no_email() -> None:
    def emails(seed: int) -> set[str]:
        return {kw["traits"]["email"] for _, c, kw in demo(seed)[1] if c == "identify"}

    assert emails(7) and not emails(7) & emails(8)
