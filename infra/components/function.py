"""One Cloud Function (gen2, Python 3.11) of the topology, with its own service account holding
only the roles ``infra/access.py`` lists for it.

The source is the archive ``infra/archives.py`` builds, uploaded for each function under a name
carrying its content hash: a changed source is a new object, which redeploys the function; an
unchanged one is left alone. Nobody may invoke a private function until a caller is granted
``run.invoker`` on it through ``Endpoint.grant_invoker`` (Pub/Sub and Cloud Scheduler do that for
themselves); the public one (the tracking endpoint) is open to ``allUsers``.

Its datasets are granted as ``gcp.bigquery.DatasetAccess`` entries: the dataset IAM resources
(``DatasetIamMember``) rewrite a dataset's access list without its authorised views, which the
restricted layers depend on (``infra/components/access.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.access import (
    DATASET_READER,
    DATASET_WRITER,
    FIRESTORE_USER,
    INVOKER,
    JOB_USER,
    PUBLISHER,
    SECRET_ACCESSOR,
    SUBSCRIBER,
    Access,
)
from infra.archives import Archive
from infra.components.secrets import StoredSecret
from shared.topology import Function

RUNTIME = "python311"
PUBLIC = "allUsers"
MAX_ACCOUNT_ID = 30  # Google's limit on a service account id


def account_id(function: Function) -> str:
    account = f"cdp-fn-{function.name}"
    if len(account) > MAX_ACCOUNT_ID:
        raise ValueError(f"service account id {account!r} is over {MAX_ACCOUNT_ID} characters")
    return account


@dataclass(frozen=True)
class Endpoint:
    """Where a function answers, and how to let a caller in."""

    service: pulumi.Output[str]  # the Cloud Run service behind the gen2 function
    uri: pulumi.Output[str]  # its run.app URL: push endpoint and OIDC audience
    project: str
    location: str

    def grant_invoker(
        self, name: str, member: pulumi.Input[str], parent: pulumi.Resource
    ) -> gcp.cloudrunv2.ServiceIamMember:
        return gcp.cloudrunv2.ServiceIamMember(
            name,
            project=self.project,
            location=self.location,
            name=self.service,
            role=INVOKER,
            member=member,
            opts=pulumi.ResourceOptions(parent=parent),
        )


@dataclass(frozen=True)
class CloudFunctionArgs:
    function: Function
    project: str
    region: str
    archive: Archive
    source_bucket: gcp.storage.Bucket
    build_service_account: pulumi.Input[str]  # projects/<p>/serviceAccounts/<email>
    environment: Mapping[str, str]
    access: Access
    topics: Mapping[str, gcp.pubsub.Topic]
    datasets: Mapping[str, gcp.bigquery.Dataset]  # by warehouse layer
    secrets: Mapping[str, StoredSecret]
    dead_letters: Mapping[str, gcp.pubsub.Subscription] = field(default_factory=dict)


class CloudFunction(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: CloudFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:CloudFunction", name, None, opts)
        self._args = args
        spec = args.function
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            f"{spec.name}-sa",
            project=args.project,
            account_id=account_id(spec),
            display_name=f"CDP function {spec.name}",
            description="Runs this one function; its roles are listed in infra/access.py.",
            opts=child,
        )
        grants = self._grants()
        source = gcp.storage.BucketObject(
            f"{spec.name}-source",
            bucket=args.source_bucket.name,
            # One object per function: destinations share an archive, and disabling one
            # deletes its object, which must not be the one the others were built from.
            name=f"functions/{spec.name}/{args.archive.object_name}",
            source=pulumi.FileAsset(str(args.archive.path)),
            content_type="application/zip",
            opts=child,
        )
        secret_env = [
            gcp.cloudfunctionsv2.FunctionServiceConfigSecretEnvironmentVariableArgs(
                key=env_var,
                project_id=args.project,
                secret=args.secrets[key].secret.secret_id,
                # Pinned, not "latest": a new value is a new revision, so no warm instance
                # keeps serving with the old one.
                version=args.secrets[key].version.version,
            )
            for env_var, key in args.access.secrets
        ]
        versions = [args.secrets[key].version for _, key in args.access.secrets]
        self.function = gcp.cloudfunctionsv2.Function(
            spec.name,
            project=args.project,
            location=args.region,
            name=spec.name,
            description=spec.description,
            labels={
                "cdp-function": spec.name,
                "source": args.archive.sha256[:16],
            },
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=RUNTIME,
                entry_point=spec.entry_point,
                service_account=args.build_service_account,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=args.source_bucket.name,
                        object=source.name,
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=self.account.email,
                available_memory=f"{spec.memory_mb}Mi",
                timeout_seconds=spec.timeout_seconds,
                min_instance_count=0,  # idle costs nothing
                max_instance_count=spec.max_instances,
                # Network ingress stays open: every caller is checked by IAM (run.invoker),
                # which is what Pub/Sub and Scheduler authenticate against with OIDC.
                ingress_settings="ALLOW_ALL",
                all_traffic_on_latest_revision=True,
                environment_variables={
                    **args.environment,
                    # No event trigger here (Pub/Sub pushes to the URL), so say how to decode.
                    "FUNCTION_SIGNATURE_TYPE": spec.signature_type,
                    # Which function of the topology this is (destinations share one source).
                    "CDP_FUNCTION": spec.name,
                },
                secret_environment_variables=secret_env or None,
            ),
            # First boot must find its roles and secrets in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*grants, *versions]),
        )
        self.url: pulumi.Output[str] = self.function.url
        self.endpoint = Endpoint(
            service=self.function.name,
            uri=self.function.service_config.apply(_uri),
            project=args.project,
            location=args.region,
        )
        if spec.public:
            self.endpoint.grant_invoker(f"{spec.name}-public", PUBLIC, self)
        self.register_outputs({"url": self.url, "service_account": self.account.email})

    def _grants(self) -> list[pulumi.Resource]:
        args, access = self._args, self._args.access
        name, member = args.function.name, self.account.member
        child = pulumi.ResourceOptions(parent=self)
        grants: list[pulumi.Resource] = [
            gcp.pubsub.TopicIAMMember(
                f"{name}-publishes-{topic}",
                project=args.project,
                topic=args.topics[topic].name,
                role=PUBLISHER,
                member=member,
                opts=child,
            )
            for topic in access.publishes
        ]
        layers = [(layer, "writes", DATASET_WRITER) for layer in access.writes_layers]
        layers += [(layer, "reads", DATASET_READER) for layer in access.reads_layers]
        grants += [
            gcp.bigquery.DatasetAccess(
                f"{name}-{verb}-{layer}",
                project=args.project,
                dataset_id=args.datasets[layer].dataset_id,
                role=role,
                user_by_email=self.account.email,
                opts=child,
            )
            for layer, verb, role in layers
        ]
        dead_letters = sorted(args.dead_letters) if access.pulls_dead_letters else []
        grants += [
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-pulls-{subscription}",
                project=args.project,
                subscription=args.dead_letters[subscription].name,
                role=SUBSCRIBER,
                member=member,
                opts=child,
            )
            for subscription in dead_letters
        ]
        project_roles = [JOB_USER] * access.runs_queries + [FIRESTORE_USER] * access.uses_firestore
        grants += [
            gcp.projects.IAMMember(
                f"{name}-{role.rsplit('/', 1)[1]}",
                project=args.project,
                role=role,
                member=member,
                opts=child,
            )
            for role in project_roles
        ]
        grants += [
            gcp.secretmanager.SecretIamMember(
                f"{name}-reads-{key}",
                project=args.project,
                secret_id=args.secrets[key].secret.id,
                role=SECRET_ACCESSOR,
                member=member,
                opts=child,
            )
            for _, key in access.secrets
        ]
        return grants


def _uri(config: gcp.cloudfunctionsv2.outputs.FunctionServiceConfig | None) -> str:
    if config is None or not config.uri:
        raise ValueError("the function has no service URI yet")
    return config.uri
