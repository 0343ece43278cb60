"""``cdp jobs run NAME``: run a scheduled job now on the local stack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.cli import DEFAULT_STACK, _require_stack
from shared.topology import TOPOLOGY


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from shared.local.scheduler import trigger

    stack = _require_stack(Path(args.stack))
    schedule = next((s for s in TOPOLOGY.schedules if s.name == args.name), None)
    function = schedule.function if schedule else "jobs"
    print(json.dumps(trigger(stack["functions"][function]["url"], args.name)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    jobs_run = jobs_sub.add_parser("run", help="run a job now on the local stack")
    jobs_run.add_argument("name")
    jobs_run.add_argument("--stack", default=str(DEFAULT_STACK))
    jobs_run.set_defaults(run=cmd_jobs_run)
