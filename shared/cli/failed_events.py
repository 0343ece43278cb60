"""``cdp failed-events list``: events refused by validation or a consumer, newest first.
``cdp failed-events replay``: events the tracking plan blocked, back through ingest after a
plan fix (``shared.governance.replay``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shared.cli import DEFAULT_STACK, _load_stack
from shared.cli.identity import _since

if TYPE_CHECKING:
    from shared.governance.replay import ReplayReport

KIND = re.compile(r"[a-z][a-z0-9_]*")

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


def _kind(text: str) -> str:
    if not KIND.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a finding kind like missing_property, not {text!r}"
        )
    return text


def _counts(report: ReplayReport) -> str:
    t = report.total
    return (
        f"{t.blocked_again:,} blocked again, {t.skipped:,} skipped, "
        f"{t.already_replayed:,} already replayed"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from shared.bootstrap import services
    from shared.governance.replay import Replay, ReplayLedger, ReplayStopped

    _load_stack(Path(args.stack))
    s = services()
    replay = Replay(s.settings, s.sql, ReplayLedger(s.documents, s.clock), s.ingest, s.clock)
    verb = "would replay" if args.dry_run else "replayed"

    def progress(done: int, total: int, report: ReplayReport) -> None:
        print(f"{verb} {done:,}/{total:,} ({_counts(report)})", file=sys.stderr, flush=True)

    try:
        report = replay.run(args.reason, args.since, args.dry_run, progress)
    except ReplayStopped as stopped:
        _summary(stopped.report, args.json, verb)
        print(f"error: {stopped}; run the replay again to carry on", file=sys.stderr)
        return 1
    _summary(report, args.json, verb)
    return 0


def _summary(report: ReplayReport, as_json: bool, verb: str) -> None:
    if as_json:
        print(json.dumps(report.to_json()))
        return
    t = report.total
    print(f"{t.selected:,} selected: {t.replayed:,} {verb}, {_counts(report)}")
    if report.by_source:
        print("by source:")
    for source, tally in sorted(report.by_source.items()):
        print(
            f"  {source:<12} {tally.selected:>7,} selected {tally.replayed:>7,} {verb}"
            f" {tally.blocked_again:>5,} blocked again {tally.skipped:>5,} skipped"
            f" {tally.already_replayed:>5,} already replayed"
        )
    if report.by_kind:
        print(f"{verb}, by finding kind (an event counts once for each of its kinds):")
    for kind, n in sorted(report.by_kind.items()):
        print(f"  {kind:<20} {n:>7,}")
    if report.skipped_why:
        print("skipped:")
    for why, n in sorted(report.skipped_why.items()):
        print(f"  {why}: {n:,}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    failed = sub.add_parser("failed-events", help="events refused by validation or a consumer")
    failed_sub = failed.add_subparsers(dest="action", required=True)
    failed_list = failed_sub.add_parser("list", help="the newest failed events, with the reason")
    failed_list.add_argument("--json", action="store_true")
    failed_list.add_argument("--limit", type=int, default=100)
    failed_list.add_argument("--stack", default=str(DEFAULT_STACK))
    failed_list.set_defaults(run=cmd_failed_events)
    replay = failed_sub.add_parser(
        "replay", help="re-enter events the tracking plan blocked, after a plan fix"
    )
    replay.add_argument(
        "--reason", type=_kind, metavar="KIND", help="only events with a finding of this kind"
    )
    replay.add_argument(
        "--since", type=_since, metavar="T", help="recorded at or after (ISO date or time, UTC)"
    )
    replay.add_argument("--dry-run", action="store_true", help="publish nothing, write no ledger")
    replay.add_argument("--json", action="store_true", help="the counts as one JSON object")
    replay.add_argument("--stack", default=str(DEFAULT_STACK), metavar="FILE")
    replay.set_defaults(run=cmd_replay)
