"""Turning Google client exceptions into the platform's error tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.api_core import exceptions as gexc

from shared.errors import BackendUnavailable

TRANSIENT: tuple[type[Exception], ...] = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.Aborted,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.RetryError,
    ConnectionError,
    TimeoutError,
)


@contextmanager
def transient_as_unavailable(what: str) -> Iterator[None]:
    """Re-raise a transient client failure as BackendUnavailable, so consumers retry."""
    try:
        yield
    except TRANSIENT as error:
        raise BackendUnavailable(f"{what}: {error}") from error
