"""``cdp dev`` (the whole platform on emulators) and ``cdp demo`` (traffic for it).

Every store starts empty; ``--keep-data`` keeps BigQuery and Firestore together across a
restart (Pub/Sub's emulator keeps nothing: a stop first lets in-flight pushes drain).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from shared.cli import DEFAULT_STACK, _require_stack
from shared.local.emulators import REPO

DEFAULT_PORT_BASE = 8500


def cmd_dev(args: argparse.Namespace) -> int:
    from shared.local.demo import run_demo
    from shared.local.processes import on_free_ports
    from shared.local.stack import LocalStack, run_forever
    from shared.local.stack_config import StackConfig, StackPorts

    stacks: list[LocalStack] = []

    def start() -> dict[str, Any]:
        ports = StackPorts.free() if args.free_ports else StackPorts.from_base(args.port_base)
        config = StackConfig(
            ports=ports,
            state_dir=Path(args.state_dir),
            project_id=args.project,
            keep_data=args.keep_data,
        )
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    dev.add_argument(
        "--keep-data",
        action="store_true",
        help="keep BigQuery and Firestore data from the last stop (default: start empty)",
    )
    dev.set_defaults(run=cmd_dev)

    demo = sub.add_parser("demo", help="send demo traffic through a real SDK to a running stack")
    demo.add_argument("--stack", default=str(DEFAULT_STACK))
    demo.add_argument("--visitors", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=cmd_demo)
