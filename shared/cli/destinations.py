"""``cdp destinations status`` and ``cdp dlq list|replay``: how each destination is doing, and
what it gave up on."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.cli import DEFAULT_STACK, _load_stack
from shared.errors import RequestError


def cmd_status(args: argparse.Namespace) -> int:
    from shared.bootstrap import bootstrap
    from shared.destinations.operations import status, to_json

    _load_stack(Path(args.stack))
    s = bootstrap()
    now = datetime.now(UTC)
    rows = status(s.settings, s.sql, s.subscriber, now - timedelta(days=args.days), now)
    if args.json:
        print(to_json(rows))
        return 0
    print(f"{'destination':<12} {'delivered':>9} {'filtered':>8} {'refused':>7} {'retried':>7} "
          f"{'dead':>5}  oldest undelivered")  # fmt: skip
    for r in rows:
        age = r["oldest_undelivered_age_seconds"]
        print(f"{r['destination']:<12} {r['delivered']:>9} {r['filtered']:>8} {r['refused']:>7} "
              f"{r['retried']:>7} {r['dead_lettered']:>5}  "
              f"{'-' if age is None else f'{age:.0f} s'}")  # fmt: skip
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from shared.bootstrap import bootstrap
    from shared.destinations.operations import list_dead, replay, to_json

    _load_stack(Path(args.stack))
    s = bootstrap()
    try:
        if args.action == "list":
            found = list_dead(s.subscriber, args.destination, args.limit)
            if args.json:
                print(to_json(found))
            else:
                for m in found:
                    kinds = ", ".join(m.get("types", []))
                    print(f"{m['subscription']}  {m['message_id']}  {m.get('kind', '?')}  "
                          f"{m.get('events', 0)} events  {kinds}")  # fmt: skip
                print(f"{len(found)} dead-lettered message(s)")
            return 0

        def progress(done: int) -> None:
            print(f"replayed {done} message(s)", file=sys.stderr, flush=True)

        count = replay(s.subscriber, s.publisher, args.destination, args.limit, progress)
    except RequestError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(f"replayed {count} dead-lettered message(s) to {args.destination}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    destinations = sub.add_parser("destinations", help="how each enabled destination is doing")
    d_sub = destinations.add_subparsers(dest="action", required=True)
    st = d_sub.add_parser("status", help="delivered, filtered, refused, retried, dead-lettered")
    st.add_argument("--days", type=int, default=7, help="attempts of the last N days")
    st.add_argument("--json", action="store_true")
    st.add_argument("--stack", default=str(DEFAULT_STACK))
    st.set_defaults(run=cmd_status)

    dlq = sub.add_parser("dlq", help="dead-lettered messages: list them, replay them")
    q_sub = dlq.add_subparsers(dest="action", required=True)
    for action, text in (("list", "list what waits"), ("replay", "deliver it again")):
        one = q_sub.add_parser(action, help=text)
        one.add_argument("destination", help="a destination name, or a subscription name")
        one.add_argument("--limit", type=int, default=1000 if action == "list" else None)
        if action == "list":
            one.add_argument("--json", action="store_true")
        one.add_argument("--stack", default=str(DEFAULT_STACK))
        one.set_defaults(run=cmd_dlq)
