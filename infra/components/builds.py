"""Where function sources are uploaded, and the identity that builds them.

Builds run as a dedicated service account rather than the project's default compute account,
which in many projects still holds Editor. It gets the three roles Google documents for a custom
build account: write build logs, push images, read the uploaded source. Reading is granted on the
project because Cloud Functions copies the source into a bucket of its own making.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

BUILDER_ROLES = (
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
)


@dataclass(frozen=True)
class BuildsArgs:
    project: str
    region: str


class Builds(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: BuildsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Builds", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = gcp.storage.Bucket(
            "function-sources",
            project=args.project,
            name=f"{args.project}-cdp-function-sources",  # project ids are globally unique
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,  # only build inputs live here; destroy may empty it
            opts=child,
        )
        self.builder = gcp.serviceaccount.Account(
            "builder",
            project=args.project,
            account_id="cdp-builder",
            display_name="Builds the CDP functions",
            opts=child,
        )
        self.grants = [
            gcp.projects.IAMMember(
                f"builder-{role.rsplit('/', 1)[1]}",
                project=args.project,
                role=role,
                member=self.builder.member,
                opts=child,
            )
            for role in BUILDER_ROLES
        ]
        self.register_outputs({"bucket": self.bucket.name, "builder": self.builder.email})
