"""The HTTP form, in the shape of Segment's Public API regulations, on the private ``privacy``
function (IAM-authenticated in the cloud):

    POST /v1/regulations        {"regulationType": "SUPPRESS_WITH_DELETE",
                                 "subjectType": "USER_ID", "subjectIds": ["u1"]}
                                → 200 {"data": {"regulateId": "<request id>"}}
    GET  /v1/regulations/<id>   → 200 {"data": {"regulation": {"id", "overallStatus",
                                 "regulateType", "subjectType", "createdAt", "finishedAt",
                                 "status", "steps"}}}
    POST /  {"job": "privacy-requests"}   the resume schedule

``subjectType`` is Segment's ``USER_ID``, or any identity type in capitals (``EMAIL``,
``ANONYMOUS_ID``, ``PHONE``, ``DEVICE_ID``...), as ``cdp privacy delete TYPE:VALUE`` takes.
A wrong body is a 400 that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import BadRequest, MethodNotAllowed, NotFound
from shared.governance.privacy.audit import PrivacyRequest
from shared.governance.privacy.requests import SEGMENT_STATUS, TYPES
from shared.governance.privacy.service import PrivacyService
from shared.identity.identifiers import Identifier

RESUME_JOB = "privacy-requests"
PREFIX = "/v1/regulations"
MAX_SUBJECTS = 5000  # Segment's limit per call
BAD_TYPE = "regulationType must be one of {types}; got {got!r}."
BAD_SUBJECT_TYPE = "subjectType must be USER_ID or an identifier type such as EMAIL; got {got!r}."
BAD_IDS = "subjectIds must be a list of 1 to {n} non-empty strings."
BAD_BODY = 'Send a JSON object: {"regulationType", "subjectType", "subjectIds"}.'


def parse(body: Any, service: PrivacyService) -> tuple[str, list[Identifier]]:
    if not isinstance(body, dict):
        raise BadRequest(BAD_BODY)
    kind = body.get("regulationType")
    if kind not in TYPES:
        raise BadRequest(BAD_TYPE.format(types=", ".join(TYPES), got=kind))
    subject_type = body.get("subjectType")
    if not isinstance(subject_type, str) or not subject_type.replace("_", "").isalnum():
        raise BadRequest(BAD_SUBJECT_TYPE.format(got=subject_type))
    if subject_type == "OBJECT_ID":
        raise BadRequest("subjectType OBJECT_ID is not supported: name people, not objects.")
    ids = body.get("subjectIds")
    if (
        not isinstance(ids, list)
        or not 0 < len(ids) <= MAX_SUBJECTS
        or not all(isinstance(i, str) and i.strip() for i in ids)
    ):
        raise BadRequest(BAD_IDS.format(n=MAX_SUBJECTS))
    try:
        subjects = [service.subject(subject_type.lower(), i) for i in ids]
    except ValueError as error:
        raise BadRequest(str(error)) from error
    return str(kind), subjects


def regulation(request: PrivacyRequest) -> dict[str, Any]:
    types = sorted({str(s.get("type", "")).upper() for s in request.subjects})
    finished = request.updated_at if SEGMENT_STATUS[request.status] != "RUNNING" else None
    return {
        "id": request.request_id,
        "overallStatus": SEGMENT_STATUS[request.status],
        "regulateType": request.type,
        "subjectType": types[0] if len(types) == 1 else types,
        "createdAt": request.created_at,
        "finishedAt": finished,
        "status": request.status,
        "steps": [s.to_doc() for s in request.steps],
    }


def handle(
    service: PrivacyService, method: str, path: str, body: Any
) -> tuple[int, Mapping[str, Any]]:
    path = path.rstrip("/") or "/"
    if path == "/" and method == "POST" and isinstance(body, dict) and "job" in body:
        if body["job"] != RESUME_JOB:
            raise NotFound(f"Unknown job {body['job']!r}; known jobs: {RESUME_JOB}.")
        return 200, {"job": RESUME_JOB, **service.resume()}
    if path == PREFIX:
        if method != "POST":
            raise MethodNotAllowed("POST a regulation here.", allow="POST")
        kind, subjects = parse(body, service)
        request = service.submit(kind, subjects, origin="http")
        return 200, {"data": {"regulateId": request.request_id}}
    if path.startswith(PREFIX + "/"):
        if method != "GET":
            raise MethodNotAllowed("GET a regulation's status here.", allow="GET")
        request = service.status(path[len(PREFIX) + 1 :])
        return 200, {"data": {"regulation": regulation(request)}}
    raise NotFound(f"No route {method} {path}: POST {PREFIX} or GET {PREFIX}/<id>.")
