"""``cdp audiences``: audiences and computed traits (``shared.audiences``).

    cdp audiences run [--as-of T] [--json]        compute, store, and (present runs) announce
    cdp audiences list [--json]                   each audience: name, size, last run, definition
    cdp audiences members KEY [--json]            its current members: profile id and userIds
                                                  (right after an as-of run: as of then)
    cdp audiences preview FILE [--as-of T] [--json]
                                                  sizes of FILE's audiences; stores nothing
    cdp audiences sql-sources [--dry-run] [--json]
                                                  every SQL source's rows as identify calls

The definitions are the file ``CDP_AUDIENCE_DEFINITIONS`` names, else the shipped ones. A wrong
argument (an unknown key, an invalid FILE, a time in the future) is an error and exit 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from shared.cli import DEFAULT_STACK, _load_stack
from shared.cli.identity import _since
from shared.errors import SetupError

if TYPE_CHECKING:
    from shared.audiences.definitions import Definitions
    from shared.bootstrap import Services

MEMBERS = """
SELECT m.profile_id, m.user_id AS member_user_id, i.identifier_value AS user_id
FROM `{memberships}` AS m
LEFT JOIN `{identity_map}` AS i
  ON i.profile_id = m.profile_id AND i.identifier_type = 'user_id' AND i.valid_to IS NULL
WHERE m.audience_key = @key AND m.lineage = @lineage AND m.exited_at IS NULL
ORDER BY m.profile_id, user_id
"""


def _services(args: argparse.Namespace) -> Services:
    from shared.bootstrap import services

    _load_stack(Path(args.stack))
    return services()


def _definitions(s: Services) -> Definitions:
    from shared.audiences.definitions import configured_definitions

    try:
        return configured_definitions(s.settings)
    except (OSError, ValueError, yaml.YAMLError) as error:
        named = s.settings.audience_definitions or "the shipped definitions"
        raise SetupError(f"the audience definitions ({named}) do not load: {error}") from error


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _past(s: Services, as_of: datetime | None) -> None:
    if as_of is not None and as_of > s.clock.now():
        raise SetupError(f"--as-of {as_of.isoformat()} is in the future: give a past time")


def cmd_run(args: argparse.Namespace) -> int:
    from shared.audiences.run import AsOfRefused, run_audiences

    s = _services(args)
    defs = _definitions(s)
    try:
        report = run_audiences(s, as_of=args.as_of, defs=defs).to_json()
    except AsOfRefused as error:  # in the future (or the clock behind the last present run)
        raise SetupError(str(error)) from error
    if args.json:
        _print(report)
        return 0
    print("\n".join(run_lines(report)))
    return 0


def run_lines(report: Mapping[str, Any]) -> list[str]:
    """A run report for people: one line per audience, then what was written and sent."""
    kind = "present run" if report.get("emitted") else "as-of run: no events emitted"
    lines = [f"audiences as of {report['as_of']} ({kind})"]
    sizes, entered, exited = report["sizes"], report["entered"], report["exited"]
    for key in sizes:
        lines.append(
            f"  {key:<28} {sizes[key]:>8,}  +{entered.get(key, 0):,} -{exited.get(key, 0):,}"
        )
    if not sizes:
        lines.append("  (no audiences defined)")
    lines.append(
        f"profiles written: {report['profiles_written']:,}, "
        f"events emitted: {report['events_emitted']:,}"
    )
    return lines


def audience_list(defs: Definitions, latest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each defined audience with its size and time from the last run record (null for an
    audience that run did not compute, and before any run)."""
    sizes = (latest or {}).get("sizes") or {}
    when = (latest or {}).get("finished_at") or (latest or {}).get("as_of")
    return [
        {
            "key": key,
            "name": audience.name,
            "size": sizes.get(key),
            "last_run": when if key in sizes else None,
            "definition": audience.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        }
        for key, audience in defs.audiences.items()
    ]


def cmd_list(args: argparse.Namespace) -> int:
    from shared.audiences.run import LATEST
    from shared.audiences.state import RUNS

    s = _services(args)
    found = audience_list(_definitions(s), s.documents.get(RUNS, LATEST))
    if args.json:
        _print(found)
        return 0
    for a in found:
        size = "-" if a["size"] is None else f"{a['size']:,}"
        print(f"{a['key']:<28} {a['name']:<32} {size:>8}  last run {a['last_run'] or 'never'}")
    if not found:
        print("no audiences defined")
    return 0


def members_of(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per profile: its userIds in the identity map now, else the userId the
    membership was stored with (a profile since merged away has none in the map)."""
    found: dict[str, dict[str, Any]] = {}
    fallback: dict[str, set[str]] = {}
    for row in rows:
        one = found.setdefault(row["profile_id"], {"profile_id": row["profile_id"], "user_ids": []})
        if row.get("user_id") and row["user_id"] not in one["user_ids"]:
            one["user_ids"].append(row["user_id"])
        if row.get("member_user_id"):
            fallback.setdefault(row["profile_id"], set()).add(row["member_user_id"])
    for pid, one in found.items():
        one["user_ids"] = sorted(one["user_ids"]) or sorted(fallback.get(pid, ()))
    return sorted(found.values(), key=lambda m: str(m["profile_id"]))


def _known(key: str, defs: Definitions) -> None:
    if key not in defs.audiences:
        known = ", ".join(defs.audiences) or "none"
        raise SetupError(f"no audience {key!r}; known audiences: {known}")


def cmd_members(args: argparse.Namespace) -> int:
    from shared.audiences.run import current_lineage
    from shared.audiences.tables import MEMBERSHIPS_VIEW, PRESENT
    from shared.warehouse.layers import CURATED, IDENTITY_MAP_VIEW

    s = _services(args)
    _known(args.key, _definitions(s))
    sql = MEMBERS.format(
        memberships=s.settings.table(CURATED, MEMBERSHIPS_VIEW),
        identity_map=s.settings.table(CURATED, IDENTITY_MAP_VIEW),
    )
    lineage = current_lineage(s.documents)
    found = members_of(s.sql.query(sql, {"key": args.key, "lineage": lineage}))
    if args.json:
        _print(found)
        return 0
    for m in found:
        print(f"{m['profile_id']}  {', '.join(m['user_ids']) or '(no userId)'}")
    when = "" if lineage == PRESENT else f" (the as-of run {lineage})"
    print(f"{len(found):,} member(s) of {args.key}{when}")
    return 0


def preview_definitions(s: Services, path: Path) -> tuple[Definitions, list[str]]:
    """FILE laid over the definitions in force, validated; and the audiences FILE defines."""
    from shared.audiences.definitions import merge_definitions, read_definitions

    base = _definitions(s)
    try:
        data = read_definitions(path)
        defs = merge_definitions(base, data, origin=f"{path} over the definitions in force")
    except ValueError as error:  # DefinitionError: unreadable, not YAML, or every problem
        raise SetupError(str(error)) from error
    return defs, list((data or {}).get("audiences") or {})


def preview_sql(compiled: str, keys: Sequence[str]) -> str:
    counts = ", ".join(f"COUNTIF(a_{k}) AS a_{k}" for k in keys)
    return f"SELECT {counts} FROM (\n{compiled}\n)"


def cmd_preview(args: argparse.Namespace) -> int:
    from shared.audiences.compiler import compile_run

    s = _services(args)
    _past(s, args.as_of)
    defs, keys = preview_definitions(s, Path(args.file))
    as_of = args.as_of or s.clock.now()
    sizes: dict[str, Any] = {}
    if keys:
        sql = preview_sql(compile_run(defs, s.settings, use_state=False), keys)
        sizes = s.sql.query(sql, {"as_of": as_of})[0]
    found = [
        {
            "key": k,
            "name": defs.audiences[k].name,
            "size": int(sizes.get(f"a_{k}") or 0),
            "as_of": as_of.isoformat(),
        }
        for k in keys
    ]
    if args.json:
        _print(found)
        return 0
    for a in found:
        print(f"{a['key']:<28} {a['name']:<32} {a['size']:>8,}")
    print(f"{args.file}: {len(found)} audience(s), as of {as_of.isoformat()}; nothing stored")
    return 0


def cmd_sql_sources(args: argparse.Namespace) -> int:
    from shared.audiences.sql_source import run_sql_sources

    s = _services(args)
    report = run_sql_sources(s, defs=_definitions(s), dry_run=args.dry_run).to_json()
    failed = any(t["error"] for t in report["sources"].values())
    if args.json:
        _print(report)
        return 1 if failed else 0
    print("\n".join(sql_source_lines(report)))
    return 1 if failed else 0


def sql_source_lines(report: Mapping[str, Any]) -> list[str]:
    verb = "would emit" if report["dry_run"] else "emitted"
    lines = []
    for key, t in report["sources"].items():
        if t["error"]:
            lines.append(f"{key}: the query failed: {t['error']}")
            continue
        lines.append(
            f"{key}: {t['rows']:,} row(s), {verb} {t['emitted']:,}, "
            f"unchanged {t['unchanged']:,}, skipped {t['skipped']:,}, failed {t['failed']:,}"
        )
        lines.extend(f"  skipped: {why}: {n:,}" for why, n in t["skipped_why"].items())
    return lines or ["no SQL sources defined"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audiences = sub.add_parser("audiences", help="audiences and computed traits")
    actions = audiences.add_subparsers(dest="action", required=True)

    def action(name: str, text: str, run: Any) -> argparse.ArgumentParser:
        one = actions.add_parser(name, help=text)
        one.add_argument("--json", action="store_true")
        one.add_argument("--stack", default=str(DEFAULT_STACK), metavar="FILE")
        one.set_defaults(run=run)
        return one

    as_of = "a past ISO date or time (UTC): compute as of then; emits nothing"
    run = action("run", "compute every trait and audience, store them, announce changes", cmd_run)
    run.add_argument("--as-of", type=_since, metavar="T", help=as_of)
    action("list", "each audience: name, size and time of the last run, definition", cmd_list)
    members = action("members", "the current members of an audience", cmd_members)
    members.add_argument("key", metavar="KEY", help="an audience key, e.g. churn_risk")
    preview = action(
        "preview", "sizes of FILE's audiences now; stores and emits nothing", cmd_preview
    )
    preview.add_argument("file", metavar="FILE", help="definitions YAML, over the shipped ones")
    preview.add_argument("--as-of", type=_since, metavar="T", help="a past time (default: now)")
    sources = action(
        "sql-sources", "send every SQL source's rows as identify calls", cmd_sql_sources
    )
    sources.add_argument("--dry-run", action="store_true", help="send nothing, write no ledger")
