"""Jobs: Cloud Scheduler POSTs {"job": name} here (with an OIDC token in the cloud)."""

from __future__ import annotations

from typing import Any

import functions_framework
from flask import Request

from shared.bootstrap import services
from shared.entrypoints import http_answer
from shared.errors import BadRequest
from shared.jobs import run_job


@functions_framework.http
def run_job_http(request: Request) -> tuple[str, int, dict[str, str]]:
    def run() -> tuple[int, dict[str, Any]]:
        body = request.get_json(silent=True) or {}
        name = body.get("job") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise BadRequest('Send {"job": "<name>"}.')
        return 200, run_job(name, services())

    return http_answer(run)
