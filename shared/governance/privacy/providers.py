"""The person at the destinations: each enabled destination that offers deletion is asked
through its deleter (``shared.destinations.deletion``); the others are recorded as such when the
request is planned.

A provider's answer maps onto the step: ``done`` and ``requested`` (the provider deletes later;
its request id is kept) finish it, ``retry`` leaves it pending for the resume schedule,
``failed`` and ``unsupported`` are final, with the provider's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.destinations.deletion import Deleter
from shared.governance.privacy.audit import Person
from shared.governance.privacy.requests import DONE, FAILED, PENDING, UNSUPPORTED, Attempt
from shared.ports.http import HttpSender

STATUS = {"done": DONE, "requested": DONE, "retry": PENDING, "failed": FAILED,
          "unsupported": UNSUPPORTED}  # fmt: skip


def step(deleters: Sequence[Deleter], http: HttpSender, person: Person) -> Callable[[str], Attempt]:
    by_name = {d.name: d for d in deleters}

    def run(name: str) -> Attempt:
        deleter = by_name.get(name)
        if deleter is None:
            return Attempt(PENDING, f"{name} offers deletion but is not configured here", True)
        outcome = deleter.delete(person.identifiers, http)
        status = STATUS.get(str(outcome.status), FAILED)
        detail = f"{outcome.status}: {outcome.detail}".rstrip(": ")
        if outcome.provider_request_id:
            detail += f" (provider request {outcome.provider_request_id})"
        return Attempt(status, detail)

    return run
