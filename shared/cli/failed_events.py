"""``cdp failed-events list``: events refused by validation or a consumer, newest first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.cli import DEFAULT_STACK, _load_stack


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    failed = sub.add_parser("failed-events", help="events refused by validation or a consumer")
    failed_sub = failed.add_subparsers(dest="action", required=True)
    failed_list = failed_sub.add_parser("list")
    failed_list.add_argument("--json", action="store_true")
    failed_list.add_argument("--limit", type=int, default=100)
    failed_list.add_argument("--stack", default=str(DEFAULT_STACK))
    failed_list.set_defaults(run=cmd_failed_events)
