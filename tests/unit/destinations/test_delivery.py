"""Whether a delivery is final is one pure function of the status code."""

from __future__ import annotations

import pytest

from shared.destinations.delivery import Outcome, outcome


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, Outcome.SENT), (202, Outcome.SENT), (204, Outcome.SENT), (299, Outcome.SENT),
     (408, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (502, Outcome.RETRY),
     (503, Outcome.RETRY), (504, Outcome.RETRY), (301, Outcome.PERMANENT),
     (400, Outcome.PERMANENT), (401, Outcome.PERMANENT), (403, Outcome.PERMANENT),
     (404, Outcome.PERMANENT), (409, Outcome.PERMANENT), (413, Outcome.PERMANENT),
     (422, Outcome.PERMANENT)],
)  # fmt: skip
def test_outcome_by_status(status: int, expected: Outcome) -> None:
    assert outcome(status) is expected
