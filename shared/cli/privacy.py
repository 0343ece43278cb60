"""``cdp privacy``: privacy requests (GDPR/CCPA) and their audit trail.

cdp privacy delete (--user-id X | TYPE:VALUE) [--no-suppress] [--json]
cdp privacy suppress|unsuppress (--user-id X | TYPE:VALUE) [--json]
cdp privacy status REQUEST_ID [--json]
cdp privacy verify REQUEST_ID [--json]      exits 1 if anything of the person remains
cdp privacy resume [--json]                 what the privacy-requests schedule runs

On a local stack, requests and resumes go to its ``privacy`` function (which holds the
destinations' keys and endpoints, as in the cloud); without one, they run here on the ``CDP_*``
settings. Status and verification read the stores directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.cli import DEFAULT_STACK, _load_stack

KINDS = {"suppress": "SUPPRESS_ONLY", "unsuppress": "UNSUPPRESS"}


def _service() -> Any:
    from shared.bootstrap import services
    from shared.governance.privacy.service import from_services

    return from_services(services())


def cmd_request(args: argparse.Namespace) -> int:
    from shared.identity.identifiers import Identifier

    stack = _load_stack(Path(args.stack))
    if args.action == "delete":
        kind = "DELETE_ONLY" if args.no_suppress else "SUPPRESS_WITH_DELETE"
    else:
        kind = KINDS[args.action]
    if bool(args.user_id) == bool(args.identifier):
        print("error: give --user-id X or TYPE:VALUE (one of them)", file=sys.stderr)
        return 1
    service = _service()
    try:
        named = Identifier("user_id", args.user_id) if args.user_id else None
        named = named or Identifier.parse(args.identifier)
        subject = service.subject(named.type, named.value)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    function = ((stack or {}).get("functions") or {}).get("privacy")
    if function:  # the stack's function holds the destinations' keys and endpoints
        code, answer = _post(function["url"].rstrip("/") + "/v1/regulations", {
            "regulationType": kind, "subjectType": subject.type.upper(),
            "subjectIds": [subject.value]})  # fmt: skip
        if code != 200:
            print(f"error: {answer.get('message', answer)}", file=sys.stderr)
            return 1
        request = service.status(answer["data"]["regulateId"])
    else:
        request = service.submit(kind, [subject])
    if args.json:
        print(json.dumps({"request_id": request.request_id, "status": request.status}))
    else:
        print(request.request_id)
        print(f"{kind}: {request.status}", file=sys.stderr)
    return 0


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _render(doc: dict[str, Any]) -> list[str]:
    lines = [f"{doc['request_id']}  {doc['type']}  {doc['status']}  created {doc['created_at']}"]
    for step in doc["steps"]:
        tries = f"{step['attempts']} attempt{'s' if step['attempts'] != 1 else ''}"
        lines.append(f"  {step['name']:<46} {step['status']:<11} {tries:<11} {step['detail']}")
    for entry in doc["trail"]:
        lines.append(f"  {entry['at']}  {entry['step']}: {entry['status']} {entry['detail']}")
    if doc.get("verified"):
        clean = "clean" if doc["verified"].get("clean") else "NOT clean"
        lines.append(f"  verified {doc['verified']['at']}: {clean}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    from shared.errors import NotFound

    _load_stack(Path(args.stack))
    try:
        doc = _service().status(args.request_id).public()
    except NotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2, default=str) if args.json else "\n".join(_render(doc)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from shared.errors import NotFound

    _load_stack(Path(args.stack))
    try:
        findings = _service().verify(args.request_id)
    except NotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(findings.to_json(), indent=2))
    elif findings.clean:
        print(f"clean: nothing of the person in {len(findings.searched)} places searched")
        for where in findings.partial:
            print(f"  partly: {where}")
    else:
        print("remaining:")
        print("\n".join(f"  {where}" for where in findings.found))
    return 0 if findings.clean else 1


def cmd_resume(args: argparse.Namespace) -> int:
    stack = _load_stack(Path(args.stack))
    function = ((stack or {}).get("functions") or {}).get("privacy")
    if function:
        code, result = _post(function["url"], {"job": "privacy-requests"})
        if code != 200:
            print(f"error: {result.get('message', result)}", file=sys.stderr)
            return 1
    else:
        result = _service().resume()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = sub.add_parser("privacy", help="privacy requests: delete, suppress, verify")
    privacy_sub = privacy.add_subparsers(dest="action", required=True)
    for action, text in (
        ("delete", "delete the person everywhere (and suppress them, unless --no-suppress)"),
        ("suppress", "drop the person's future events at ingest"),
        ("unsuppress", "let the person's events in again"),
    ):
        one = privacy_sub.add_parser(action, help=text)
        one.add_argument("identifier", nargs="?", help="TYPE:VALUE, e.g. email:ada@example.com")
        one.add_argument("--user-id", help="the person's userId")
        if action == "delete":
            one.add_argument("--no-suppress", action="store_true", help="DELETE_ONLY")
        one.set_defaults(run=cmd_request)
    for action, text, run in (
        ("status", "every step of a request's audit trail", cmd_status),
        ("verify", "search every store for the person; exit 1 if anything remains", cmd_verify),
    ):
        one = privacy_sub.add_parser(action, help=text)
        one.add_argument("request_id")
        one.set_defaults(run=run)
    resume = privacy_sub.add_parser("resume", help="run open requests' pending steps now")
    resume.set_defaults(run=cmd_resume)
    for one in privacy_sub.choices.values():
        one.add_argument("--json", action="store_true")
        one.add_argument("--stack", default=str(DEFAULT_STACK))
