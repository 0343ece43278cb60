"""``cdp mtu-report``: monthly tracked users in the full pipeline against all ids seen."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from shared.cli import DEFAULT_STACK, _load_stack
from shared.errors import RequestError


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mtu = sub.add_parser("mtu-report", help="MTUs in the full pipeline vs all ids, per month")
    mtu.add_argument("--month", default=datetime.now(UTC).strftime("%Y-%m"), help="YYYY-MM")
    mtu.add_argument("--json", action="store_true")
    mtu.add_argument("--stack", default=str(DEFAULT_STACK))
    mtu.set_defaults(run=cmd_mtu_report)
