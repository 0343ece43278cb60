"""``cdp failed-events list``: events refused by validation or a consumer, newest first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.cli import DEFAULT_STACK, _load_stack

# The newest first, then the limit (reading the first rows stored, then sorting, missed the
# newest ones once there were more than the limit).
NEWEST = "SELECT * FROM `{table}` ORDER BY recorded_at DESC, failed_id LIMIT {limit}"


def cmd_failed_events(args: argparse.Namespace) -> int:
    from shared.bootstrap import bootstrap
    from shared.warehouse.tables import FAILED_EVENTS_TABLE, OPS

    _load_stack(Path(args.stack))
    services = bootstrap()
    table = services.settings.table(OPS, FAILED_EVENTS_TABLE)
    rows = services.sql.query(NEWEST.format(table=table, limit=max(0, int(args.limit))))
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
