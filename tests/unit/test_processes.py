"""Starting on free ports survives another process taking a port between pick and bind."""

from __future__ import annotations

import pytest

from shared.errors import SetupError
from shared.local.processes import on_free_ports


def flaky(failures: list[str]):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def start() -> int:
        calls.append(1)
        if failures:
            raise SetupError(f"emulator exited early:\n{failures.pop(0)}")
        return len(calls)

    return start


@pytest.mark.parametrize(
    "said",
    [
        "java.net.BindException: Address already in use",
        "[Errno 98] error while attempting to bind on address: address already in use",
        "[ERROR] Connection in use: ('127.0.0.1', 8511)",
    ],
)
def test_a_taken_port_means_another_try_on_new_ports(said: str) -> None:
    assert on_free_ports(flaky([said, said])) == 3


def test_other_setup_errors_and_the_last_attempt_are_raised() -> None:
    with pytest.raises(SetupError, match="missing"):
        on_free_ports(flaky(["the Pub/Sub emulator is missing"]))
    with pytest.raises(SetupError, match="already in use"):
        on_free_ports(flaky(["Address already in use"] * 3))
