"""Ingest: the public tracking endpoint (Segment HTTP Tracking API)."""

from __future__ import annotations

import functions_framework
from flask import Request

from shared.bootstrap import services
from shared.entrypoints import http_answer
from shared.ingest.handler import IngestRequest

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


@functions_framework.http
def ingest(request: Request) -> tuple[str, int, dict[str, str]]:
    if request.method == "OPTIONS":
        return "", 204, CORS
    incoming = IngestRequest(
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=False),
    )

    def accept() -> tuple[int, dict[str, bool]]:
        services().ingest.handle(incoming)
        return 200, {"success": True}

    body, status, headers = http_answer(accept)
    return body, status, {**headers, **CORS}
