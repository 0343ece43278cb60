"""What a local stack is made of: its sources, local settings, ports and configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.local import standins
from shared.local.emulators import REPO, EmulatorPorts
from shared.local.processes import free_ports
from shared.topology import TOPOLOGY, Topology

DEV_SOURCES = (
    ("web", "Web app", "web"),
    ("ios", "iOS app", "ios"),
    ("android", "Android app", "android"),
    ("backend", "Backend", "server"),
    ("customerio", "Customer.io", "third_party"),
)
# Local defaults for what waits for the cloud's delays: nothing is loaded late here, so the
# promotion sweep handles ids as soon as they enter (the environment still wins).
# Destinations retry for minutes, not the cloud's hours, so a fault and its recovery (or the
# dead-letter queue) show while someone watches.
LOCAL_SETTINGS = {
    "CDP_TIER_SWEEP_SETTLE_SECONDS": "0",
    "CDP_DESTINATION_RETRY": '{"attempts": 10, "minimum_backoff_seconds": 1, '
    '"maximum_backoff_seconds": 30}',
}
PORTS_TAKEN = "Port(s) {ports} already in use: stop the other stack or pass --port-base."


@dataclass(frozen=True)
class StackPorts:
    emulators: EmulatorPorts
    functions: dict[str, int]
    ga4: int  # the GA4 Measurement Protocol stand-in the cold path sends to
    webhook: int  # the generic webhook destination's stand-in receiver
    standins: dict[str, int] = field(default_factory=dict)  # each provider's stand-in

    @classmethod
    def from_base(cls, base: int, topology: Topology = TOPOLOGY) -> StackPorts:
        """Emulators on base to base+3, the GA4 and webhook stand-ins on base+4 and base+5,
        the providers' from base+6, functions from base+20."""
        return cls(
            EmulatorPorts(base, base + 1, base + 2, base + 3),
            {f.name: base + 20 + i for i, f in enumerate(topology.functions)},
            ga4=base + 4,
            webhook=base + 5,
            standins={name: base + 6 + i for i, name in enumerate(standins.PROVIDERS)},
        )

    @classmethod
    def free(cls, topology: Topology = TOPOLOGY) -> StackPorts:
        fixed = 6 + len(standins.PROVIDERS)
        ports = free_ports(fixed + len(topology.functions))
        names = [f.name for f in topology.functions]
        return cls(
            EmulatorPorts(*ports[:4]),
            dict(zip(names, ports[fixed:], strict=True)),
            ga4=ports[4],
            webhook=ports[5],
            standins=dict(zip(standins.PROVIDERS, ports[6:fixed], strict=True)),
        )

    def all(self) -> list[int]:
        return [
            *asdict(self.emulators).values(),
            *self.functions.values(),
            self.ga4,
            self.webhook,
            *self.standins.values(),
        ]


@dataclass
class StackConfig:
    ports: StackPorts
    state_dir: Path = REPO / ".dev"
    project_id: str = "cdp-local"
    topology: Topology = TOPOLOGY
    run_schedules: bool = True
    keep_data: bool = False  # BigQuery and Firestore across a restart (``cdp dev --keep-data``)
    drain_seconds: float = 30.0  # at most, for in-flight pushes before a stop
