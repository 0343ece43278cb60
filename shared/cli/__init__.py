"""``cdp``: the operator's command line.

    cdp dev [--no-demo] [--port-base N | --free-ports] [--state-dir DIR] [--keep-data]
    cdp demo [--stack FILE] [--visitors N] [--seed N]
    cdp failed-events list [--json] [--limit N] [--stack FILE]
    cdp failed-events replay [--reason KIND] [--since T] [--dry-run] [--json] [--stack FILE]
    cdp plan lint [--plan FILE] [--json]
    cdp plan diff OLD NEW [--json]
    cdp plan violations [--since T] [--json] [--stack FILE]
    cdp privacy delete|suppress|unsuppress (--user-id X | TYPE:VALUE) [--no-suppress] [--json]
    cdp privacy status|verify REQUEST_ID [--json]
    cdp privacy resume [--json]
    cdp jobs run NAME [--stack FILE]
    cdp audiences run [--as-of T] [--json] [--stack FILE]
    cdp audiences list|members KEY|preview FILE|sql-sources [--dry-run] [--json] [--stack FILE]
    cdp profile get|explain TYPE:VALUE [--json] [--stack FILE]
    cdp profile unmerge TYPE:VALUE --evidence ID [--stack FILE]
    cdp identity reprocess --since T [--json] [--stack FILE]
    cdp destinations status [--days N] [--json] [--stack FILE]
    cdp dlq list|replay DESTINATION [--limit N] [--json] [--stack FILE]
    cdp mtu-report [--month YYYY-MM] [--json] [--stack FILE]
    cdp topology [--json]

Commands that talk to a running local stack read its ``stack.json`` (default ``.dev/stack.json``)
for the emulator addresses; against the cloud, leave it out and set ``CDP_*`` settings.

Each command group is a module of this package with ``register(sub)``, which adds its
subparsers and sets ``run`` to the function that carries it out; a new group is a new module
whose ``register`` is added to the list in ``parser()``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.errors import SetupError
from shared.local.emulators import REPO

DEFAULT_STACK = REPO / ".dev" / "stack.json"


def _load_stack(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    stack: dict[str, Any] = json.loads(path.read_text())
    for key, value in stack.get("environment", {}).items():
        os.environ.setdefault(key, value)
    return stack


def _require_stack(path: Path) -> dict[str, Any]:
    stack = _load_stack(path)
    if stack is None:
        raise SetupError(f"No local stack description at {path}: start one with `make dev`.")
    return stack


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdp", description="Customer data platform for Google Cloud.")
    sub = p.add_subparsers(dest="command", required=True)
    # Imported here: the groups import this module's helpers.
    from shared.cli import (
        audiences,
        destinations,
        dev,
        failed_events,
        identity,
        jobs,
        mtu,
        plan,
        privacy,
        profile,
        topology,
    )

    # In the order ``cdp --help`` lists them.
    for register in (
        dev.register,
        failed_events.register,
        plan.register,
        privacy.register,
        profile.register,
        identity.register,
        destinations.register,
        jobs.register,
        audiences.register,
        mtu.register,
        topology.register,
    ):
        register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
