"""Ingest: the public tracking endpoint (Segment HTTP Tracking API and tool webhooks)."""

from __future__ import annotations

import functions_framework
from flask import Request

from shared.bootstrap import services
from shared.entrypoints import http_answer
from shared.ingest.handler import IngestRequest

# Browsers post cross-origin; the answer must also carry these, or the browser hides it.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}
ACCEPTED = {"success": True}  # exactly this: one SDK resends on any other 2xx


@functions_framework.http
def ingest(request: Request) -> tuple[str, int, dict[str, str]]:
    if request.method == "OPTIONS":
        return "", 204, CORS
    incoming = IngestRequest(
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=False),
        query={k: v for k, v in request.args.items()},
        method=request.method,
    )

    def accept() -> tuple[int, dict[str, bool]]:
        services().ingest.handle(incoming)
        return 200, ACCEPTED

    body, status, headers = http_answer(accept)
    return body, status, {**headers, **CORS}
