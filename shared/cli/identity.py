"""``cdp identity reprocess --since T``: replay stored alias calls through identity."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from shared.cli import DEFAULT_STACK, _load_stack


def _since(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a date or time like 2026-11-01, not {text!r}"
        ) from error
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_reprocess(args: argparse.Namespace) -> int:
    from shared.bootstrap import services
    from shared.identity.reprocess import reprocess_aliases

    _load_stack(Path(args.stack))
    s = services()

    def progress(done: int, total: int) -> None:
        print(f"reprocessed {done}/{total} alias calls", file=sys.stderr, flush=True)

    result = reprocess_aliases(s.settings, s.sql, s.identity, args.since, progress)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(
            f"{result.aliases} alias calls since {args.since.isoformat()}: {result.joined} "
            f"joined, {result.refused} kept apart by the merge rules, {result.changes} identity "
            f"changes published, {result.unreadable} unreadable rows"
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    identity = sub.add_parser("identity", help="identity graph maintenance")
    identity_sub = identity.add_subparsers(dest="action", required=True)
    reprocess = identity_sub.add_parser(
        "reprocess", help="replay the stored alias calls since T through identity"
    )
    reprocess.add_argument("--since", required=True, type=_since, help="ISO date or time (UTC)")
    reprocess.add_argument("--json", action="store_true")
    reprocess.add_argument("--stack", default=str(DEFAULT_STACK))
    reprocess.set_defaults(run=cmd_reprocess)
