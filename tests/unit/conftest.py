"""Unit-test fixtures shared across packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.bootstrap import Services
from tests.fakes import fake_services, installed


@pytest.fixture
def services() -> Iterator[Services]:
    """Services on the fakes of every port, installed where functions find them
    (``services()``); a module that needs other fakes defines its own ``services``."""
    with installed(fake_services()) as built:
        yield built
