"""``cdp plan lint|diff|violations``: the tracking plan, checked, compared, and as ingest sees it.

    cdp plan lint [--plan FILE] [--json]            exit 1 on any error
    cdp plan diff OLD NEW [--json]                  exit 1 if any change is breaking
    cdp plan violations [--since T] [--json] [--stack FILE]

``lint`` and ``diff`` read files only (no stack, no cloud): they run in ``make test`` and in a
review of a plan change (``git show HEAD:shared/governance/tracking_plan.yaml > old.yaml``).
``violations`` reads the hourly counts in ``cdp_ops.violations``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from shared.cli import DEFAULT_STACK, _load_stack
from shared.cli.identity import _since
from shared.errors import SetupError
from shared.governance.diff import breaking, diff, version_note
from shared.governance.lint import ERROR, failed, lint_text
from shared.governance.plan import PLAN_PATH, TrackingPlan, parse_plan

DEFAULT_HOURS = 24
VIOLATIONS = """
SELECT hour, source_id, event, kind, property, plan_version, mode, count
FROM `{view}`
WHERE hour >= @since
ORDER BY hour DESC, count DESC, source_id, event, kind, property
"""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SetupError(f"cannot read the plan {path}: {error.strerror}") from error


def cmd_lint(args: argparse.Namespace) -> int:
    issues = lint_text(_read(args.plan))
    errors = sum(i.severity == ERROR for i in issues)
    if args.json:
        print(
            json.dumps(
                {
                    "plan": args.plan,
                    "ok": not failed(issues),
                    "issues": [i.as_dict() for i in issues],
                },
                indent=2,
            )
        )
    else:
        for i in issues:
            print(f"{i.severity:<8} {i.where or '(plan)'}: {i.message}")
        print(f"{args.plan}: {errors} error(s), {len(issues) - errors} warning(s)")
    return 1 if failed(issues) else 0


def _plan(path: str) -> TrackingPlan:
    try:
        return parse_plan(_read(path))
    except (ValueError, yaml.YAMLError) as error:  # pydantic's ValidationError is a ValueError
        raise SetupError(
            f"{path} does not load (`cdp plan lint --plan {path}` says why): {error}"
        ) from error


def cmd_diff(args: argparse.Namespace) -> int:
    old, new = _plan(args.old), _plan(args.new)
    changes = diff(old, new)
    note = version_note(old, new, changes)
    if args.json:
        print(
            json.dumps(
                {
                    "breaking": breaking(changes),
                    "note": note,
                    "changes": [c.as_dict() for c in changes],
                },
                indent=2,
            )
        )
    else:
        for c in changes:
            print(f"{c.kind:<10} {c.where}: {c.what}")
        count = sum(c.kind != "compatible" for c in changes)
        print(f"{count} breaking, {len(changes) - count} compatible change(s)")
        if note:
            print(f"note: {note}", file=sys.stderr)
    return 1 if breaking(changes) else 0


def cmd_violations(args: argparse.Namespace) -> int:
    from shared.bootstrap import services
    from shared.warehouse.layers import OPS, VIOLATIONS_VIEW

    _load_stack(Path(args.stack))
    s = services()
    since = args.since or s.clock.now() - timedelta(hours=DEFAULT_HOURS)
    rows = s.sql.query(
        VIOLATIONS.format(view=s.settings.table(OPS, VIOLATIONS_VIEW)), {"since": since}
    )
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    for r in rows:
        hour = r["hour"].isoformat() if isinstance(r["hour"], datetime) else str(r["hour"])
        print(
            f"{hour}  {r['source_id'] or '-':<12} {r['event'] or '-':<28} {r['kind']:<18} "
            f"{r['property'] or '-':<20} v{r['plan_version']} {r['mode'] or '-':<5} {r['count']}"
        )
    total = sum(int(r["count"]) for r in rows)
    print(f"{total} violation(s) since {since.isoformat()}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser("plan", help="the tracking plan: lint, diff, violations")
    plan_sub = plan.add_subparsers(dest="action", required=True)

    lint = plan_sub.add_parser("lint", help="naming, types and references of a plan")
    lint.add_argument("--plan", default=str(PLAN_PATH), help="a plan file (default: shipped)")
    lint.add_argument("--json", action="store_true")
    lint.set_defaults(run=cmd_lint)

    compare = plan_sub.add_parser("diff", help="each change from OLD to NEW, compatible or not")
    compare.add_argument("old")
    compare.add_argument("new")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(run=cmd_diff)

    violations = plan_sub.add_parser("violations", help="findings per hour, source and event")
    violations.add_argument("--since", type=_since, help="ISO date or time (default: 24 h ago)")
    violations.add_argument("--json", action="store_true")
    violations.add_argument("--stack", default=str(DEFAULT_STACK))
    violations.set_defaults(run=cmd_violations)
