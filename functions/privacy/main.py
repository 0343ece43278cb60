"""Privacy: Segment-style regulations (delete, suppress, unsuppress) and their status, and the
schedule that resumes pending requests. Private: callers need an identity token (IAM)."""

from __future__ import annotations

from typing import Any

import functions_framework
from flask import Request

from shared.bootstrap import Services, services
from shared.entrypoints import http_answer
from shared.governance.privacy.regulations import handle
from shared.governance.privacy.service import PrivacyService, from_services

_built: list[tuple[Services, PrivacyService]] = []


def privacy() -> PrivacyService:
    """Built once per instance (per services, so tests that install fakes get their own)."""
    current = services()
    if not _built or _built[0][0] is not current:
        _built[:] = [(current, from_services(current))]
    return _built[0][1]


@functions_framework.http
def regulations(request: Request) -> tuple[str, int, dict[str, str]]:
    def run() -> tuple[int, dict[str, Any]]:
        body = request.get_json(silent=True) if request.method == "POST" else None
        status, answer = handle(privacy(), request.method, request.path, body)
        return status, dict(answer)

    return http_answer(run)
