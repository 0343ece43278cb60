"""Ingest alone for ``bench.soak``: a second ingest process beside the stack's, as deployed
(same sources, governance and tiering), publishing into a project of its own on the same
Pub/Sub emulator whose topics have no subscriptions. What it accepts reaches no consumer, so
its maximum is ingest's (with Pub/Sub's publish), not the stores'."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.local.emulators import REPO
from shared.local.processes import ManagedProcess, free_port, patched_environ, wait_http
from shared.local.stack import LocalStack, serve_command
from shared.topology import INGEST


@contextmanager
def ingest_alone(stack: LocalStack, logs: Path) -> Iterator[tuple[str, ManagedProcess]]:
    """(its URL, its process) while the block runs; stopped after."""
    project = f"{stack.config.project_id}-alone"
    env = dict(stack.function_env)
    with patched_environ({"PUBSUB_EMULATOR_HOST": env["PUBSUB_EMULATOR_HOST"]}):
        publisher = pubsub_v1.PublisherClient()
        for topic in stack.config.topology.all_topic_names():
            publisher.create_topic(name=publisher.topic_path(project, topic))
    function = stack.config.topology.function(INGEST)
    port = free_port()
    env.update({"CDP_PROJECT_ID": project, "GOOGLE_CLOUD_PROJECT": project,
                "CDP_FUNCTION": INGEST})  # fmt: skip
    process = ManagedProcess(
        "ingest alone",
        serve_command(function, REPO / "functions" / function.folder / "main.py", port),
        logs / "ingest-alone.log",
        env=env,
        cwd=REPO,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/", process)
        yield url, process
    finally:
        process.stop()
