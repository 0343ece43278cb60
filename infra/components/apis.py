"""The Google APIs the stack calls. Everything else depends on this component, so a fresh
project gets its APIs switched on before the first resource that needs them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

SERVICES = (
    "artifactregistry.googleapis.com",  # function images
    "billingbudgets.googleapis.com",  # the budget (cdp:billingAccount)
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",  # builds the function sources
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",  # project IAM and the project-number lookup
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",  # alert policies and their notification channel
    "pubsub.googleapis.com",
    "run.googleapis.com",  # gen2 functions run on Cloud Run
    "secretmanager.googleapis.com",
    "storage.googleapis.com",  # the source bucket
)


@dataclass(frozen=True)
class EnabledApisArgs:
    project: str
    services: tuple[str, ...] = SERVICES


class EnabledApis(pulumi.ComponentResource):
    """Turning an API off on destroy would break anything else in the project that uses it, so
    destroy leaves them on."""

    def __init__(
        self, name: str, args: EnabledApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:EnabledApis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.services = {
            service: gcp.projects.Service(
                service.split(".")[0],
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for service in args.services
        }
        # The Pub/Sub service agent exists only once something asks for it; the dead-letter
        # and push-token grants name it, so have it created first.
        self.pubsub_identity = gcp.projects.ServiceIdentity(
            "pubsub-agent",
            project=args.project,
            service="pubsub.googleapis.com",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.services["pubsub.googleapis.com"]]
            ),
        )
        self.register_outputs({"services": list(self.services)})
