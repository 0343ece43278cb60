"""``cdp dev``: the whole platform on emulators, from the one topology.

Starts the emulators, creates every topic, subscription (pushing to the local function the
topology names), dataset and table, starts one functions-framework process per function, runs the
schedules, prints ``READY {json}`` and writes ``<state-dir>/stack.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import SetupError
from shared.ingest.sources import hash_key
from shared.local import ga4_standin, redeliver, standins, webhook_standin
from shared.local.drain import drain
from shared.local.emulators import REPO, export_firestore, start_emulators
from shared.local.ga4_standin import GA4StandIn
from shared.local.processes import (
    ManagedProcess,
    patched_environ,
    port_is_free,
    wait_http,
)
from shared.local.provision import create_messaging, create_warehouse
from shared.local.retry_keeper import RetryKeeper
from shared.local.scheduler import LocalScheduler
from shared.local.stack_config import (
    DEV_SOURCES,
    LOCAL_SETTINGS,
    PORTS_TAKEN,
    StackConfig,
)
from shared.local.standins.base import StandIn
from shared.settings import DestinationRetry, Settings, Source
from shared.topology import DESTINATIONS, Function, Topology
from shared.warehouse.tables import datasets


@dataclass
class LocalStack:
    config: StackConfig
    processes: list[ManagedProcess] = field(default_factory=list)
    write_keys: dict[str, str] = field(default_factory=dict)
    scheduler: LocalScheduler | None = None
    ga4: GA4StandIn | None = None
    webhook: webhook_standin.WebhookStandIn | None = None
    providers: dict[str, StandIn] = field(default_factory=dict)  # stand-ins by destination
    destinations: str = ""  # CDP_DESTINATIONS as the functions got it
    pii_hash_key: str = ""  # CDP_PII_HASH_KEY: functions and operators' commands share it
    sources: str = ""  # CDP_SOURCES (hashed write keys): functions and operators' commands
    ready: bool = False  # started completely: a stop drains first (and exports, keeping data)
    function_env: dict[str, str] = field(default_factory=dict)  # what the functions started with
    redeliverer: redeliver.Redeliverer | None = None  # CDP_LOCAL_FAULT_REDELIVER=1 only
    keeper: RetryKeeper | None = None  # the emulator's lost retries (retry_keeper.py)
    messaging: tuple[Topology, dict[str, str]] | None = None  # as provisioned: push URLs

    def function_url(self, function: Function) -> str:
        return f"http://127.0.0.1:{self.config.ports.functions[function.name]}/"

    def start(self) -> dict[str, Any]:
        taken = [p for p in self.config.ports.all() if not port_is_free(p)]
        if taken:
            raise SetupError(PORTS_TAKEN.format(ports=", ".join(map(str, taken))))
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        cfg = self.config
        env = cfg.ports.emulators.environment(cfg.project_id)
        self.processes += start_emulators(
            cfg.ports.emulators, cfg.project_id, cfg.state_dir, keep_data=cfg.keep_data
        )
        sources = self._dev_sources()
        settings = Settings(
            project_id=cfg.project_id, bigquery_endpoint=env["CDP_BIGQUERY_ENDPOINT"]
        )
        with patched_environ(env):  # provision through the same official clients
            create_warehouse(settings)
        urls = {f.name: self.function_url(f) for f in cfg.topology.functions}
        pointed = {
            **self._ga4_environment(),
            **self._webhook_environment(),
            **self._provider_environment(),
        }
        function_env = {
            **LOCAL_SETTINGS,
            "CDP_DESTINATIONS": ",".join(["ga4", *DESTINATIONS]),
            "CDP_PII_HASH_KEY": self._pii_hash_key(),
            **pointed,  # settings already in the environment win
            **os.environ,
            **env,
            "CDP_SOURCES": json.dumps([s.model_dump() for s in sources]),
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
        self.function_env = function_env
        started = [(f, self._start_function(f, function_env)) for f in cfg.topology.functions]
        for function, process in started:
            wait_http(urls[function.name], process)
        self.destinations = function_env["CDP_DESTINATIONS"]
        self.pii_hash_key = function_env["CDP_PII_HASH_KEY"]
        self.sources = function_env["CDP_SOURCES"]
        retry = DestinationRetry.model_validate_json(function_env["CDP_DESTINATION_RETRY"])
        topology = cfg.topology.with_destination_retry(retry.attempts, retry.policy())
        pushed = urls
        if redeliver.enabled():  # a local fault: every push twice, out of order
            self.redeliverer = redeliver.Redeliverer(urls)
            pushed = self.redeliverer.start()
        self.messaging = (topology, pushed)
        self.provision_messaging()
        if cfg.run_schedules:
            self.scheduler = LocalScheduler(cfg.topology.schedules, urls)
            self.scheduler.start()
        info = self.describe(settings, urls)
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        (cfg.state_dir / "stack.json").write_text(json.dumps(info, indent=2) + "\n")
        self.ready = True
        return info

    def provision_messaging(self) -> None:
        """Topics and subscriptions on the Pub/Sub emulator (again after it restarted: it
        keeps nothing), and the keeper of its retries."""
        assert self.messaging is not None
        topology, pushed = self.messaging
        if self.keeper:
            self.keeper.stop()
        with patched_environ(self.config.ports.emulators.environment(self.config.project_id)):
            create_messaging(self.config.project_id, topology, pushed)
            self.keeper = RetryKeeper(self.config.project_id, topology.subscriptions)
            self.keeper.start()  # its client reads the emulator's host now

    def _dev_sources(self) -> list[Source]:
        self.write_keys = {sid: secrets.token_urlsafe(24) for sid, _, _ in DEV_SOURCES}
        return [
            Source(id=sid, name=name, kind=kind, write_key_sha256=hash_key(self.write_keys[sid]))
            for sid, name, kind in DEV_SOURCES
        ]

    def _start_function(self, function: Function, env: dict[str, str]) -> ManagedProcess:
        port = self.config.ports.functions[function.name]
        process = ManagedProcess(
            f"function {function.name}",
            serve_command(function, REPO / "functions" / function.folder / "main.py", port),
            self.config.state_dir / "logs" / f"{function.name}.log",
            env={**env, "CDP_FUNCTION": function.name},
            cwd=REPO,
        )
        self.processes.append(process)
        return process

    def describe(self, settings: Settings, urls: dict[str, str]) -> dict[str, Any]:
        cfg = self.config
        emulators = cfg.ports.emulators
        return {
            "project_id": cfg.project_id,
            "ingest_url": urls["ingest"].rstrip("/"),
            "functions": {
                name: {"url": url, "port": cfg.ports.functions[name]} for name, url in urls.items()
            },
            "emulators": {
                "pubsub": {"host": f"127.0.0.1:{emulators.pubsub}", "port": emulators.pubsub},
                "firestore": {
                    "host": f"127.0.0.1:{emulators.firestore}",
                    "port": emulators.firestore,
                },
                "bigquery": {
                    "endpoint": f"http://127.0.0.1:{emulators.bigquery}",
                    "port": emulators.bigquery,
                    "grpc_port": emulators.bigquery_grpc,
                },
            },
            # What operators' commands need besides the emulators (`cdp destinations status`).
            "environment": {
                **emulators.environment(cfg.project_id),
                "CDP_DESTINATIONS": self.destinations,
                "CDP_PII_HASH_KEY": self.pii_hash_key,
                # the sources' kinds: the audiences leave the backend's events out of sessions
                "CDP_SOURCES": self.sources,
            },
            "topics": cfg.topology.all_topic_names(),
            "subscriptions": {
                s.name: {
                    "topic": s.topic,
                    "function": s.function,
                    "dead_letter_topic": s.dead_letter_topic,
                }
                for s in cfg.topology.subscriptions
            },
            "dead_letter_subscriptions": [
                name for name, _ in cfg.topology.dead_letter_subscriptions()
            ],
            "datasets": {d.name: [t.name for t in d.tables] for d in datasets(settings)},
            "schedules": {
                s.name: {"cron": s.cron, "function": s.function} for s in cfg.topology.schedules
            },
            "write_keys": dict(self.write_keys),
            "ga4_url": self.ga4.url if self.ga4 else os.environ.get("CDP_GA4_ENDPOINT"),
            "webhook_url": self.webhook.url if self.webhook else os.environ.get("CDP_WEBHOOK_URL"),
            "standins": {
                name: self.providers[name].url
                if name in self.providers
                else os.environ.get(standins.endpoint_variable(name))
                for name in standins.PROVIDERS
            },
            "state_dir": str(cfg.state_dir),
        }

    def _pii_hash_key(self) -> str:
        """The stack's key for keyed hashes, made once per state directory and kept with its
        data: the suppression list of a kept Firestore is only readable with the same key."""
        path = self.config.state_dir / "pii_hash_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def _ga4_environment(self) -> dict[str, str]:
        """Unless GA4 is configured, the cold path sends to a local stand-in that validates like
        GA4 (``GET`` on it lists what it accepted and rejected)."""
        if os.environ.get("CDP_GA4_ENDPOINT"):
            return {}
        self.ga4 = GA4StandIn(port=self.config.ports.ga4)
        try:
            return ga4_standin.function_environment(self.ga4.start())
        except OSError as error:
            self.ga4 = None
            raise SetupError(f"GA4 stand-in on port {self.config.ports.ga4}: {error}") from error

    def _webhook_environment(self) -> dict[str, str]:
        """Unless a webhook is configured, the webhook destination (back-fills included) sends
        to a local stand-in that checks the signature and the batch format (``GET`` on it lists
        what it accepted and rejected). It shares a secret already set in the environment."""
        if os.environ.get("CDP_WEBHOOK_URL"):
            return {}
        secret = os.environ.get("CDP_WEBHOOK_SECRET") or secrets.token_urlsafe(24)
        port = self.config.ports.webhook
        self.webhook = webhook_standin.WebhookStandIn(port=port, secret=secret)
        try:
            return webhook_standin.function_environment(self.webhook.start(), secret)
        except OSError as error:
            self.webhook = None
            raise SetupError(f"webhook stand-in on port {port}: {error}") from error

    def _provider_environment(self) -> dict[str, str]:
        """Each provider destination sends to its local stand-in (``GET /_standin`` lists what
        it accepted and refused), unless its endpoint is set in the environment."""
        found: dict[str, str] = {}
        for name, port in self.config.ports.standins.items():
            if os.environ.get(standins.endpoint_variable(name)):
                continue
            try:
                self.providers[name], environment = standins.start(name, port)
            except OSError as error:
                raise SetupError(f"{name} stand-in on port {port}: {error}") from error
            found.update(environment)
        return found

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        if self.keeper:
            self.keeper.stop()
            self.keeper = None
        try:
            if self.ready:
                self.ready = False
                self._settle()
        finally:
            for process in reversed(self.processes):
                process.stop()
            self.processes.clear()
            for standin in (self.ga4, self.webhook, *self.providers.values()):
                if standin is not None:
                    standin.stop()
            self.ga4 = self.webhook = None
            self.providers.clear()
            if self.redeliverer is not None:
                self.redeliverer.stop()
                self.redeliverer = None

    def _settle(self) -> None:
        """Before the processes stop: let pushes in flight finish (Pub/Sub's emulator keeps
        nothing), then, keeping data, export Firestore beside BigQuery's data dir."""
        cfg = self.config
        print("stopping: waiting for in-flight pushes to drain", flush=True)
        drained = drain([p.process.pid for p in self.processes], timeout=cfg.drain_seconds)
        print(drained.message(), flush=True)
        if cfg.keep_data:
            seed = export_firestore(cfg.ports.emulators.firestore, cfg.project_id, cfg.state_dir)
            print(f"kept BigQuery and Firestore data in {cfg.state_dir} ({seed.name})", flush=True)


def run_forever(stack: LocalStack, stop: threading.Event) -> None:
    """Block until ``stop`` is set, reporting a child that dies."""
    reported: set[str] = set()
    while not stop.wait(1.0):
        for process in stack.processes:
            if not process.alive() and process.name not in reported:
                reported.add(process.name)
                print(f"WARNING {process.name} exited; log: {process.log_path}", flush=True)


def serve_command(function: Function, source: Path | str, port: int) -> list[str]:
    """functions-framework serving ``function`` from ``source`` on loopback, as deployed."""
    return [
        sys.executable, "-m", "functions_framework",
        "--source", str(source),
        "--target", function.entry_point,
        "--signature-type", function.signature_type,
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
