"""The baseline: a bare functions-framework endpoint that parses the same JSON and answers 200."""

from __future__ import annotations

import json

import functions_framework
from flask import Request


@functions_framework.http
def bare(request: Request) -> tuple[str, int, dict[str, str]]:
    json.loads(request.get_data(cache=False))
    return '{"success": true}', 200, {"Content-Type": "application/json"}
