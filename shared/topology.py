"""The platform's shape, declared once: topics, subscriptions, functions and schedules.

The Pulumi program deploys exactly this and ``cdp dev`` starts exactly this on emulators, so the
local stack and the cloud cannot drift apart (a test checks both against this module).

Every push subscription gets its own dead-letter topic, and a pull subscription on that topic
(same name) where an operator inspects and replays what was given up on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Trigger(StrEnum):
    HTTP = "http"  # called over HTTPS (by apps, by Cloud Scheduler)
    PUBSUB = "pubsub"  # fed by push subscriptions; raising makes Pub/Sub redeliver


@dataclass(frozen=True)
class Function:
    name: str  # resource name, also the folder under functions/ with '-' → '_'
    entry_point: str  # the Python function in functions/<folder>/main.py
    trigger: Trigger
    public: bool = False  # only the tracking endpoint is reachable without a token
    destination: str = ""  # a destination's name: deployed only when that destination is enabled
    memory_mb: int = 512
    timeout_seconds: int = 60
    max_instances: int = 20
    description: str = ""
    source: str = ""  # the folder under functions/ when several functions share one

    @property
    def folder(self) -> str:
        return self.source or self.name.replace("-", "_")

    @property
    def signature_type(self) -> str:
        return "http" if self.trigger is Trigger.HTTP else "cloudevent"


@dataclass(frozen=True)
class Topic:
    name: str
    description: str = ""
    retention_hours: int = 24 * 7  # how long an unacknowledged message waits


@dataclass(frozen=True)
class RetryPolicy:
    minimum_backoff_seconds: int = 10
    maximum_backoff_seconds: int = 600


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    function: str  # name of the Function it pushes to
    max_delivery_attempts: int = 10  # then the message goes to the dead-letter topic
    ack_deadline_seconds: int = 60
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    filter: str = ""  # Pub/Sub filter on attributes ("" = everything)

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}-dead-letter"


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str  # in time_zone
    function: str  # an HTTP Function; it receives {"job": name}
    time_zone: str = "Etc/UTC"
    description: str = ""


@dataclass(frozen=True)
class Topology:
    topics: tuple[Topic, ...]
    subscriptions: tuple[Subscription, ...]
    functions: tuple[Function, ...]
    schedules: tuple[Schedule, ...]

    def function(self, name: str) -> Function:
        for candidate in self.functions:
            if candidate.name == name:
                return candidate
        raise KeyError(f"no function named {name!r} in the topology")

    def all_topic_names(self) -> list[str]:
        """Declared topics plus one dead-letter topic per subscription."""
        return [t.name for t in self.topics] + [s.dead_letter_topic for s in self.subscriptions]

    def dead_letter_subscriptions(self) -> list[tuple[str, str]]:
        """(pull subscription, dead-letter topic) pairs an operator reads."""
        return [(s.dead_letter_topic, s.dead_letter_topic) for s in self.subscriptions]

    def subscriptions_of(self, function: str) -> list[Subscription]:
        return [s for s in self.subscriptions if s.function == function]

    def destinations(self) -> list[str]:
        return [f.destination for f in self.functions if f.destination]

    def with_destination_retry(self, attempts: int, retry: RetryPolicy) -> Topology:
        """This topology with destinations retrying as given (tests and the local stack
        shorten the hours the cloud keeps, to see dead-lettering and recovery)."""
        mine = {f.name for f in self.functions if f.destination and f.destination != "ga4"}
        return Topology(
            topics=self.topics,
            subscriptions=tuple(
                replace(s, max_delivery_attempts=attempts, retry=retry) if s.function in mine else s
                for s in self.subscriptions
            ),
            functions=self.functions,
            schedules=self.schedules,
        )

    def destination_subscriptions(self, name: str) -> list[Subscription]:
        """The subscriptions feeding destination ``name`` (live events, back-fills)."""
        functions = {f.name for f in self.functions if f.destination == name}
        return [s for s in self.subscriptions if s.function in functions]

    def with_destinations(self, enabled: Iterable[str]) -> Topology:
        """This topology with only the ``enabled`` destinations' functions and subscriptions
        (a destination nobody configured costs no function and no push per message)."""
        wanted = set(enabled)
        dropped = {f.name for f in self.functions if f.destination and f.destination not in wanted}
        return Topology(
            topics=self.topics,
            subscriptions=tuple(s for s in self.subscriptions if s.function not in dropped),
            functions=tuple(f for f in self.functions if f.name not in dropped),
            schedules=self.schedules,
        )


EVENTS = "events"
COLD_EVENTS = "cold-events"
FAILED_EVENTS = "failed-events"
IDENTITY_CHANGES = "identity-changes"
BACKFILLS = "backfills"
PROFILED_EVENTS = "profiled-events"

INGEST = "ingest"
IDENTITY = "identity"
WAREHOUSE_LOADER = "warehouse-loader"
JOBS = "jobs"
PRIVACY = "privacy"
GA4_FORWARDER = "ga4-forwarder"
DESTINATION_WEBHOOK = "destination-webhook"
# Each a module of shared.destinations, a function "destination-<name>" served from
# functions/destination, and two subscriptions: live events (as identity resolved them) and
# back-fills. Deployed only when enabled (CDP_DESTINATIONS / cdp:destinations).
DESTINATIONS = {
    "amplitude": "Amplitude HTTP API V2: events and user properties.",
    "intercom": "Intercom: data events, contacts and companies.",
    "meta": "Meta Conversions API: server events with hashed user data.",
    "appsflyer": "AppsFlyer S2S in-app events.",
    "firebase": "Firebase / GA4 Measurement Protocol for engaged users.",
    "slack": "Slack incoming webhook: alerts from templates.",
    "webhook": "Generic webhook destination: signed Segment-format batches.",
}

# A destination retries 429/5xx for hours before giving up: Pub/Sub's backoff grows from 10 s to
# its 10-minute ceiling, so 40 deliveries span about six hours; then the dead-letter topic.
DESTINATION_ATTEMPTS = 40

TOPOLOGY = Topology(
    topics=(
        Topic(EVENTS, "Engaged events, one message per accepted request (a batch)."),
        Topic(COLD_EVENTS, "Cold (anonymous, low-engagement) events: GA4 and the cold archive."),
        Topic(FAILED_EVENTS, "Events refused by validation or a consumer, with the reason."),
        Topic(IDENTITY_CHANGES, "Profiles created, linked, merged and unmerged (assignments)."),
        Topic(BACKFILLS, "Promoted ids' pre-promotion journeys, for destinations opting in."),
        Topic(PROFILED_EVENTS, "Engaged events with the person identity resolved each to."),
    ),
    subscriptions=(
        Subscription("identity", EVENTS, IDENTITY),
        Subscription("warehouse-events", EVENTS, WAREHOUSE_LOADER),
        Subscription("warehouse-cold-archive", COLD_EVENTS, WAREHOUSE_LOADER),
        Subscription("warehouse-failed-events", FAILED_EVENTS, WAREHOUSE_LOADER),
        Subscription("warehouse-identity-changes", IDENTITY_CHANGES, WAREHOUSE_LOADER),
        Subscription("ga4-cold-events", COLD_EVENTS, GA4_FORWARDER),
        *(
            Subscription(
                f"destination-{name}{suffix}",
                topic,
                f"destination-{name}",
                max_delivery_attempts=DESTINATION_ATTEMPTS,
            )
            for name in DESTINATIONS
            for suffix, topic in (("", PROFILED_EVENTS), ("-backfills", BACKFILLS))
        ),
    ),
    functions=(
        Function(
            INGEST,
            "ingest",
            Trigger.HTTP,
            public=True,
            max_instances=100,
            description="Segment-compatible Tracking API.",
        ),
        Function(IDENTITY, "identity", Trigger.PUBSUB, description="Profiles in Firestore."),
        Function(
            WAREHOUSE_LOADER,
            "load",
            Trigger.PUBSUB,
            description="Batched, idempotent loads into BigQuery.",
        ),
        Function(
            JOBS,
            "run_job_http",
            Trigger.HTTP,
            timeout_seconds=540,
            max_instances=2,
            description="Scheduled jobs.",
        ),
        Function(
            PRIVACY,
            "regulations",
            Trigger.HTTP,
            timeout_seconds=540,
            max_instances=2,
            description="Privacy requests: Segment-style regulations, their status, resumes.",
        ),
        Function(
            GA4_FORWARDER,
            "forward",
            Trigger.PUBSUB,
            memory_mb=256,
            destination="ga4",
            description="Cold path: cold events to GA4 through the Measurement Protocol.",
        ),
        *(
            Function(
                f"destination-{name}",
                "deliver",
                Trigger.PUBSUB,
                memory_mb=256,
                destination=name,
                description=text,
                source="destination",
            )
            for name, text in DESTINATIONS.items()
        ),
    ),
    schedules=(
        Schedule(
            "warehouse-dedup",
            "17 * * * *",
            JOBS,
            description="Remove rows a redelivery loaded twice (belt and braces to insertId).",
        ),
        Schedule(
            "warehouse-users",
            "*/15 * * * *",
            JOBS,
            description="Merge recent identifies into the users table (latest value per trait).",
        ),
        Schedule(
            "tier-promotion-sweep",
            "*/10 * * * *",
            JOBS,
            description="Promote by threshold; first touch; back-fill opted-in destinations.",
        ),
        Schedule(
            "quality-checks",
            "23 * * * *",
            JOBS,
            description="Freshness, volume, schema drift, duplicate and failed-event rates; "
            "alerts to Slack.",
        ),
        Schedule(
            "audiences",
            "41 * * * *",
            JOBS,
            description="Computed traits and audiences: profiles, memberships, enter/exit events.",
        ),
        Schedule(
            "sql-sources",
            "47 * * * *",
            JOBS,
            description="Warehouse queries whose changed rows become identify calls.",
        ),
        Schedule(
            "privacy-requests",
            "*/10 * * * *",
            PRIVACY,
            description="Resume privacy requests with pending steps (BigQuery's streaming buffer).",
        ),
    ),
)
