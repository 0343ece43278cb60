"""``cdp``: the operator's command line.

    cdp dev [--no-demo] [--port-base N | --free-ports] [--state-dir DIR]
    cdp demo [--stack FILE] [--visitors N] [--seed N]
    cdp failed-events list [--json] [--limit N] [--stack FILE]
    cdp jobs run NAME [--stack FILE]
    cdp profile get|explain TYPE:VALUE [--json] [--stack FILE]
    cdp profile unmerge TYPE:VALUE --evidence ID [--stack FILE]
    cdp mtu-report [--month YYYY-MM] [--json] [--stack FILE]
    cdp topology [--json]

Commands that talk to a running local stack read its ``stack.json`` (default ``.dev/stack.json``)
for the emulator addresses; against the cloud, leave it out and set ``CDP_*`` settings.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.errors import RequestError, SetupError
from shared.local.emulators import REPO
from shared.topology import TOPOLOGY

DEFAULT_STACK = REPO / ".dev" / "stack.json"
DEFAULT_PORT_BASE = 8500


def _load_stack(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    stack: dict[str, Any] = json.loads(path.read_text())
    for key, value in stack.get("environment", {}).items():
        os.environ.setdefault(key, value)
    return stack


def _require_stack(path: Path) -> dict[str, Any]:
    stack = _load_stack(path)
    if stack is None:
        raise SetupError(f"No local stack description at {path}: start one with `make dev`.")
    return stack


def cmd_dev(args: argparse.Namespace) -> int:
    from shared.local.demo import run_demo
    from shared.local.processes import on_free_ports
    from shared.local.stack import LocalStack, StackConfig, StackPorts, run_forever

    stacks: list[LocalStack] = []

    def start() -> dict[str, Any]:
        ports = StackPorts.free() if args.free_ports else StackPorts.from_base(args.port_base)
        config = StackConfig(ports=ports, state_dir=Path(args.state_dir), project_id=args.project)
        stacks.append(LocalStack(config))
        return stacks[-1].start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        info = on_free_ports(start) if args.free_ports else start()
        stack = stacks[-1]
        print("READY " + json.dumps(info, separators=(",", ":")), flush=True)
        if not args.no_demo:
            report = run_demo(info, visitors=args.visitors)
            print(
                f"demo: sent {report.total} events {dict(report.sent)}; "
                f"{report.users} users, {report.anonymous_visitors} visitors, "
                f"{len(report.errors)} errors",
                flush=True,
            )
        run_forever(stack, stop)
    finally:
        if stacks:
            stacks[-1].stop()
        print("stopped", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from shared.local.demo import run_demo

    report = run_demo(_require_stack(Path(args.stack)), visitors=args.visitors, seed=args.seed)
    print(
        json.dumps(
            {
                "sent": dict(report.sent),
                "total": report.total,
                "users": report.users,
                "visitors": report.anonymous_visitors,
                "errors": report.errors,
            }
        )
    )
    return 1 if report.errors else 0


def cmd_failed_events(args: argparse.Namespace) -> int:
    from shared.bootstrap import bootstrap
    from shared.warehouse.tables import FAILED_EVENTS_TABLE, OPS

    _load_stack(Path(args.stack))
    services = bootstrap()
    table = f"{services.settings.dataset(OPS)}.{FAILED_EVENTS_TABLE}"
    rows = services.warehouse.list_rows(table, max_results=args.limit)
    rows.sort(key=lambda r: str(r.get("recorded_at")), reverse=True)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
    else:
        for row in rows:
            source = row.get("source_id") or "-"
            print(f"{row['recorded_at']}  {row['stage']:<10} {source:<12} {row['reason']}")
        print(f"{len(rows)} failed event(s)")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from shared.bootstrap import services
    from shared.errors import RequestError
    from shared.identity.evidence import render
    from shared.identity.identifiers import Identifier

    _load_stack(Path(args.stack))
    identity = services().identity
    try:
        identifier = Identifier.parse(args.identifier)
        result: Any
        if args.action == "get":
            result = identity.profile(identifier)
        elif args.action == "explain":
            result = identity.explain(identifier)
        else:
            result = identity.unmerge(identifier, args.evidence).to_json()
    except (RequestError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json or args.action == "get":
        print(json.dumps(result, default=str, indent=2))
    elif args.action == "explain":
        print("\n".join(render(result)))
    else:
        parts = ", ".join(result["extra"]["parts"])
        print(f"unmerged evidence {args.evidence}: {args.identifier} is now in {parts}")
    return 0


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from shared.local.scheduler import trigger

    stack = _require_stack(Path(args.stack))
    schedule = next((s for s in TOPOLOGY.schedules if s.name == args.name), None)
    function = schedule.function if schedule else "jobs"
    print(json.dumps(trigger(stack["functions"][function]["url"], args.name)))
    return 0


def cmd_mtu_report(args: argparse.Namespace) -> int:
    from shared.bootstrap import bootstrap
    from shared.tiering.mtu import mtu_report

    _load_stack(Path(args.stack))
    services = bootstrap()
    try:
        report = mtu_report(services.settings, services.sql, services.documents, args.month)
    except RequestError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    return 0


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdp", description="Customer data platform for Google Cloud.")
    sub = p.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole platform locally on emulators")
    dev.add_argument("--no-demo", action="store_true", help="do not send demo traffic")
    dev.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("CDP_PORT_BASE", DEFAULT_PORT_BASE)),
        help="first of the ports used (emulators base..base+3, functions base+10..)",
    )
    dev.add_argument("--free-ports", action="store_true", help="pick free ports instead")
    dev.add_argument("--state-dir", default=str(REPO / ".dev"), help="logs, data, stack.json")
    dev.add_argument("--project", default="cdp-local")
    dev.add_argument("--visitors", type=int, default=40, help="demo visitors")
    dev.set_defaults(run=cmd_dev)

    demo = sub.add_parser("demo", help="send demo traffic through a real SDK to a running stack")
    demo.add_argument("--stack", default=str(DEFAULT_STACK))
    demo.add_argument("--visitors", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=cmd_demo)

    failed = sub.add_parser("failed-events", help="events refused by validation or a consumer")
    failed_sub = failed.add_subparsers(dest="action", required=True)
    failed_list = failed_sub.add_parser("list")
    failed_list.add_argument("--json", action="store_true")
    failed_list.add_argument("--limit", type=int, default=100)
    failed_list.add_argument("--stack", default=str(DEFAULT_STACK))
    failed_list.set_defaults(run=cmd_failed_events)

    profile = sub.add_parser("profile", help="resolved profiles, why, and undoing a merge")
    profile_sub = profile.add_subparsers(dest="action", required=True)
    for action, text in (
        ("get", "print the resolved profile holding TYPE:VALUE"),
        ("explain", "print why the identifiers of that profile belong together"),
        ("unmerge", "remove one piece of evidence and recompute the people it joined"),
    ):
        one = profile_sub.add_parser(action, help=text)
        one.add_argument("identifier", help="TYPE:VALUE, e.g. email:ada@example.com")
        one.add_argument("--json", action="store_true")
        one.add_argument("--stack", default=str(DEFAULT_STACK))
        if action == "unmerge":
            one.add_argument("--evidence", required=True, help="evidence id, as explain prints")
        one.set_defaults(run=cmd_profile)

    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    jobs_run = jobs_sub.add_parser("run", help="run a job now on the local stack")
    jobs_run.add_argument("name")
    jobs_run.add_argument("--stack", default=str(DEFAULT_STACK))
    jobs_run.set_defaults(run=cmd_jobs_run)

    mtu = sub.add_parser("mtu-report", help="MTUs in the full pipeline vs all ids, per month")
    mtu.add_argument("--month", default=datetime.now(UTC).strftime("%Y-%m"), help="YYYY-MM")
    mtu.add_argument("--json", action="store_true")
    mtu.add_argument("--stack", default=str(DEFAULT_STACK))
    mtu.set_defaults(run=cmd_mtu_report)

    topo = sub.add_parser("topology", help="print the declared topology")
    topo.add_argument("--json", action="store_true")
    topo.set_defaults(run=cmd_topology)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
