"""``cdp profile get|explain|unmerge``: resolved profiles, why, and undoing a merge."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.cli import DEFAULT_STACK, _load_stack


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
