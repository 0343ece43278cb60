"""``cdp topology``: the declared functions, subscriptions and schedules."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from shared.topology import TOPOLOGY


def cmd_topology(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(asdict(TOPOLOGY), default=str, indent=2))
        return 0
    for f in TOPOLOGY.functions:
        print(
            f"function     {f.name:<18} {f.trigger.value:<7} {'public' if f.public else 'private'}"
        )
    for s in TOPOLOGY.subscriptions:
        dead = s.dead_letter_topic
        print(f"subscription {s.name:<26} {s.topic} → {s.function} (dead letters: {dead})")
    for sch in TOPOLOGY.schedules:
        print(f"schedule     {sch.name:<18} '{sch.cron}' → {sch.function}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topo = sub.add_parser("topology", help="print the declared topology")
    topo.add_argument("--json", action="store_true")
    topo.set_defaults(run=cmd_topology)
