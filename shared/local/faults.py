"""Faults injected into a running local stack, for the fault suite (``tests/faults``): a
function killed, an emulator frozen, the Pub/Sub emulator restarted. Never deployed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

from shared.local.emulators import EmulatorBinaries, pubsub_process
from shared.local.processes import ManagedProcess, wait_http
from shared.local.stack import LocalStack

EMULATORS = ("pubsub-emulator", "firestore-emulator", "bigquery-emulator")


def process_of(stack: LocalStack, name: str) -> ManagedProcess:
    [found] = [p for p in stack.processes if p.name == name]
    return found


def kill_and_restart(stack: LocalStack, name: str, down_seconds: float = 0.0) -> None:
    """SIGKILL function ``name`` (whatever it was doing is cut off), leave it down
    ``down_seconds``, then start it again with the same environment."""
    [function] = [f for f in stack.config.topology.functions if f.name == name]
    old = process_of(stack, f"function {name}")
    os.killpg(old.process.pid, signal.SIGKILL)
    old.stop()  # reaps it and closes its log
    stack.processes.remove(old)
    time.sleep(down_seconds)
    started = stack._start_function(function, stack.function_env)
    wait_http(stack.function_url(function), started)


@contextlib.contextmanager
def frozen(stack: LocalStack, emulator: str) -> Iterator[None]:
    """The emulator's process group stopped (SIGSTOP) for the block, then continued: every
    request to it hangs meanwhile, as a store that is slow or not answering."""
    if emulator not in EMULATORS:
        raise ValueError(f"not an emulator: {emulator}")
    group = process_of(stack, emulator).process.pid
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def restart_pubsub(stack: LocalStack, down_seconds: float = 0.0) -> None:
    """Stop the Pub/Sub emulator, leave it down ``down_seconds``, start it again on the same
    port and provision the topology again. Messages it held are gone: it keeps nothing."""
    old = process_of(stack, "pubsub-emulator")
    old.stop()
    stack.processes.remove(old)
    time.sleep(down_seconds)
    binaries = EmulatorBinaries.locate()
    process, url = pubsub_process(
        binaries, stack.config.ports.emulators.pubsub, stack.config.state_dir / "logs"
    )
    stack.processes.insert(0, process)
    wait_http(url, process)
    stack.provision_messaging()
