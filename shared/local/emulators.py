"""The three emulators: official Pub/Sub and Firestore (from the Google Cloud CLI) and the
BigQuery emulator (local-bigquery, in its own Python 3.13 venv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from shared.errors import SetupError
from shared.local.processes import ManagedProcess, wait_http

REPO = Path(__file__).resolve().parents[2]
PUBSUB_BIN = "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
FIRESTORE_BIN = "platform/cloud-firestore-emulator/cloud_firestore_emulator"
NO_GCLOUD = (
    "The Google Cloud CLI was not found (no `gcloud` on PATH and CLOUDSDK_ROOT_DIR unset). "
    "Install it with its Pub/Sub and Firestore emulator components."
)
MISSING_EMULATOR = (
    "The {what} emulator is missing: expected {path}. Install the Google Cloud CLI component "
    "`{component}` (gcloud components install {component})."
)
# Kept data (``cdp dev --keep-data``) under the state dir: BigQuery's own data dir, and the
# Firestore export the stack writes as it stops and the emulator imports as it starts.
BIGQUERY_DATA = "bigquery"
FIRESTORE_EXPORT = "firestore"
MISSING_BQ = (
    "The BigQuery emulator is missing: expected {path}. Run `make setup` (it creates .venv-bq "
    "with local-bigquery on Python 3.13)."
)


def sdk_root() -> Path:
    configured = os.environ.get("CLOUDSDK_ROOT_DIR")
    if configured:
        return Path(configured)
    gcloud = shutil.which("gcloud")
    if not gcloud:
        raise SetupError(NO_GCLOUD)
    found = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    if not found:
        raise SetupError(NO_GCLOUD)
    return Path(found)


@dataclass(frozen=True)
class EmulatorBinaries:
    pubsub: Path
    firestore: Path
    bigquery: Path

    @classmethod
    def locate(cls, bigquery: Path | None = None) -> EmulatorBinaries:
        """Find every binary or raise one SetupError naming all that are missing."""
        root = sdk_root()
        found = cls(
            pubsub=root / PUBSUB_BIN,
            firestore=root / FIRESTORE_BIN,
            bigquery=bigquery
            or Path(os.environ.get("CDP_BIGQUERY_EMULATOR", REPO / ".venv-bq/bin/local-bigquery")),
        )
        problems = [
            MISSING_EMULATOR.format(what=what, path=path, component=component)
            for what, path, component in (
                ("Pub/Sub", found.pubsub, "pubsub-emulator"),
                ("Firestore", found.firestore, "cloud-firestore-emulator"),
            )
            if not path.exists()
        ]
        if not found.bigquery.exists():
            problems.append(MISSING_BQ.format(path=found.bigquery))
        if problems:
            raise SetupError("\n".join(problems))
        return found


@dataclass(frozen=True)
class EmulatorPorts:
    pubsub: int
    firestore: int
    bigquery: int
    bigquery_grpc: int

    def environment(self, project: str) -> dict[str, str]:
        """What the official clients (and our settings) read to find the emulators."""
        return {
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore}",
            "CDP_BIGQUERY_ENDPOINT": f"http://127.0.0.1:{self.bigquery}",
            "CDP_PROJECT_ID": project,
            "GOOGLE_CLOUD_PROJECT": project,
        }


def start_emulators(
    ports: EmulatorPorts,
    project: str,
    state_dir: Path,
    binaries: EmulatorBinaries | None = None,
    keep_data: bool = False,
) -> list[ManagedProcess]:
    """Start all three at once and return when each answers (or raise, having stopped them).
    Every store starts empty, unless ``keep_data``: then BigQuery keeps its data dir and
    Firestore imports the export the last stop wrote (Pub/Sub keeps nothing either way)."""
    binaries = binaries or EmulatorBinaries.locate()
    logs = state_dir / "logs"
    if not keep_data:
        shutil.rmtree(state_dir / BIGQUERY_DATA, ignore_errors=True)
    seed = firestore_seed(state_dir) if keep_data else None
    started: list[tuple[ManagedProcess, str]] = []
    try:
        started.append(pubsub_process(binaries, ports.pubsub, logs))
        started.append(_firestore(binaries, ports.firestore, logs, seed))
        started.append(_bigquery(binaries, ports, project, state_dir / BIGQUERY_DATA, logs))
        for process, url in started:
            wait_http(url, process)
    except BaseException:
        for process, _ in started:
            process.stop()
        raise
    return [process for process, _ in started]


def pubsub_process(binaries: EmulatorBinaries, port: int, logs: Path) -> tuple[ManagedProcess, str]:
    process = ManagedProcess(
        "pubsub-emulator",
        [str(binaries.pubsub), "--host=127.0.0.1", f"--port={port}"],
        logs / "pubsub-emulator.log",
    )
    return process, f"http://127.0.0.1:{port}/v1/projects/probe/topics"


def firestore_seed(state_dir: Path) -> Path | None:
    """The metadata file of the Firestore export under ``state_dir``, if a stop wrote one."""
    found = (
        state_dir
        / FIRESTORE_EXPORT
        / FIRESTORE_EXPORT
        / f"{FIRESTORE_EXPORT}.overall_export_metadata"
    )
    return found if found.is_file() else None


def export_firestore(port: int, project: str, state_dir: Path) -> Path:
    """Export the emulator's documents under ``state_dir`` (replacing the last export once
    the new one is complete) and return its metadata file. The emulator's own
    ``--export-on-exit`` writes nothing when it is stopped by SIGTERM, so the stack asks."""
    final, partial = state_dir / FIRESTORE_EXPORT, state_dir / f"{FIRESTORE_EXPORT}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    body = {
        "database": f"projects/{project}/databases/(default)",
        "export_directory": str(partial),
        "export_name": FIRESTORE_EXPORT,
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/emulator/v1/projects/{project}:export",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120):
        pass
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    seed = firestore_seed(state_dir)
    if seed is None:
        raise SetupError(f"The Firestore emulator wrote no export under {final}.")
    return seed


def _firestore(
    binaries: EmulatorBinaries, port: int, logs: Path, seed: Path | None = None
) -> tuple[ManagedProcess, str]:
    imported = [f"--import-data={seed}"] if seed else []
    process = ManagedProcess(
        "firestore-emulator",
        [str(binaries.firestore), "start", "--host=127.0.0.1", f"--port={port}", *imported],
        logs / "firestore-emulator.log",
    )
    return process, f"http://127.0.0.1:{port}/"


def _bigquery(
    binaries: EmulatorBinaries, ports: EmulatorPorts, project: str, data_dir: Path, logs: Path
) -> tuple[ManagedProcess, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    port, grpc_port = ports.bigquery, ports.bigquery_grpc
    process = ManagedProcess(
        "bigquery-emulator",
        [
            str(binaries.bigquery),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--project",
            project,
            "--data-dir",
            str(data_dir),
        ],
        logs / "bigquery-emulator.log",
    )
    return process, f"http://127.0.0.1:{port}/bigquery/v2/projects/{project}/datasets"
