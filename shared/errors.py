"""Every error the platform raises on purpose, in one tree.

    CdpError
    ├── RetryableError            transient: raise it from a Pub/Sub consumer and Pub/Sub redelivers
    │   └── BackendUnavailable    a Google service or a destination did not answer
    ├── PermanentError            retrying cannot help: record it for an operator, then ack
    │   ├── InvalidMessage        a Pub/Sub message we cannot decode
    │   └── InvalidDocumentId     a document id Firestore refuses (empty, "/", "..", too long)
    ├── RequestError              an HTTP caller's mistake, turned into a status only at the edge
    │   ├── BadRequest            400
    │   ├── Unauthorized          401
    │   ├── Forbidden             403
    │   ├── NotFound              404
    │   ├── MethodNotAllowed      405 (with Allow)
    │   ├── PayloadTooLarge       413
    │   ├── UnsupportedMediaType  415
    │   └── RateLimited           429 (with Retry-After)
    └── SetupError                the local machine lacks something (an emulator binary, a venv)

Consumers decide retry by class, never by message text: ``RetryableError`` propagates,
``PermanentError`` is recorded and swallowed.
"""

from __future__ import annotations


class CdpError(Exception):
    """Base of every error raised on purpose."""


class RetryableError(CdpError):
    """A transient failure: the same input may succeed later."""


class BackendUnavailable(RetryableError):
    """A backend (Pub/Sub, Firestore, BigQuery, a destination) failed transiently."""


class PermanentError(CdpError):
    """A failure that the same input will always hit again."""


class InvalidMessage(PermanentError):
    """A Pub/Sub message whose envelope cannot be decoded."""


class InvalidDocumentId(PermanentError):
    """A document id Firestore refuses; every store refuses it alike, before any round trip."""


class RequestError(CdpError):
    """An HTTP request we refuse; ``status`` is what the caller gets."""

    status = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(RequestError):
    status = 400


class Unauthorized(RequestError):
    status = 401


class Forbidden(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class MethodNotAllowed(RequestError):
    status = 405

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message, headers={"Allow": allow})


class PayloadTooLarge(RequestError):
    status = 413


class UnsupportedMediaType(RequestError):
    status = 415


class RateLimited(RequestError):
    status = 429

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class SetupError(CdpError):
    """Something the local stack needs is missing; the message names it and how to get it."""
