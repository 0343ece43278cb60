"""Cloud Scheduler: one job per ``Schedule`` of the topology, POSTing ``{"job": name}`` to its
HTTP function with an OIDC token, the same request the local scheduler sends.

The jobs run as their own service account, allowed to invoke only the functions they call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.function import Endpoint
from shared.topology import Schedule, Topology, Trigger

MAX_HTTP_DEADLINE_SECONDS = 1800  # Cloud Scheduler's limit for HTTP targets


def job_body(schedule: Schedule) -> str:
    """The request body, base64-encoded as the Scheduler API wants it."""
    return base64.b64encode(json.dumps({"job": schedule.name}).encode()).decode()


@dataclass(frozen=True)
class SchedulerArgs:
    project: str
    region: str
    topology: Topology
    endpoints: Mapping[str, Endpoint]


class Scheduler(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SchedulerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Scheduler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.caller = gcp.serviceaccount.Account(
            "scheduler-caller",
            project=args.project,
            account_id="cdp-scheduler",
            display_name="Cloud Scheduler calls the CDP job functions",
            opts=child,
        )
        targets = sorted({s.function for s in args.topology.schedules})
        for target in targets:
            if args.topology.function(target).trigger is not Trigger.HTTP:
                raise ValueError(f"schedules may only call HTTP functions, not {target!r}")
        invokers = {
            target: args.endpoints[target].grant_invoker(
                f"scheduler-invokes-{target}", self.caller.member, self
            )
            for target in targets
        }
        self.jobs: dict[str, gcp.cloudscheduler.Job] = {}
        for schedule in args.topology.schedules:
            function = args.topology.function(schedule.function)
            endpoint = args.endpoints[schedule.function]
            deadline = min(function.timeout_seconds + 30, MAX_HTTP_DEADLINE_SECONDS)
            self.jobs[schedule.name] = gcp.cloudscheduler.Job(
                schedule.name,
                project=args.project,
                region=args.region,
                name=schedule.name,
                description=schedule.description,
                schedule=schedule.cron,
                time_zone=schedule.time_zone,
                attempt_deadline=f"{deadline}s",
                # A failed run is retried a little, then waits for the next tick.
                retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                    retry_count=2, min_backoff_duration="30s", max_backoff_duration="300s"
                ),
                http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                    uri=endpoint.uri,
                    http_method="POST",
                    headers={"Content-Type": "application/json"},
                    body=job_body(schedule),
                    oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
                        service_account_email=self.caller.email,
                        audience=endpoint.uri,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[invokers[schedule.function]]),
            )
        self.register_outputs({"jobs": [j.name for j in self.jobs.values()]})
