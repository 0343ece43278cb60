"""Unit-test fixtures shared across packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.bootstrap import Services, use_services
from tests.fakes import fake_services


@pytest.fixture
def services() -> Iterator[Services]:
    """Services on the fakes of every port, installed where functions find them
    (``services()``); a module that needs other fakes defines its own ``services``."""
    built = fake_services()
    use_services(built)
    yield built
    use_services(None)
