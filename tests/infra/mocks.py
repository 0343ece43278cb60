"""Pulumi mocks that play the cloud's part: they record every resource the program declares and
fill in what Google would compute (service-account emails, function URLs, resource ids), so the
tests read the program's real inputs, as the provider would receive them (camelCase)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

PROJECT = "cdp-infra-test"
PROJECT_NUMBER = "123456789012"
REGION = "europe-west1"

ACCOUNT = "gcp:serviceaccount/account:Account"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
TABLE = "gcp:bigquery/table:Table"
DATASET = "gcp:bigquery/dataset:Dataset"
JOB = "gcp:cloudscheduler/job:Job"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
FIRESTORE_FIELD = "gcp:firestore/field:Field"
TOPIC_GRANT = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SECRET_GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
DATASET_GRANT = "gcp:bigquery/datasetIamMember:DatasetIamMember"  # never used: see access.py
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"
SUBSCRIPTION_GRANT = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
PROJECT_GRANT = "gcp:projects/iAMMember:IAMMember"


@dataclass(frozen=True)
class Declared:
    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.inputs

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)


def _computed(typ: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(id, extra outputs) the way Google would fill them."""
    if typ == ACCOUNT:
        email = f"{inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"
        full = f"projects/{PROJECT}/serviceAccounts/{email}"
        return full, {"email": email, "member": f"serviceAccount:{email}", "name": full}
    if typ == FUNCTION:
        name = inputs["name"]
        service = {
            **inputs.get("serviceConfig", {}),
            "uri": f"https://{name}-abc123-ew.a.run.app",
            "service": f"projects/{PROJECT}/locations/{REGION}/services/{name}",
        }
        url = f"https://{REGION}-{PROJECT}.cloudfunctions.net/{name}"
        return f"projects/{PROJECT}/locations/{REGION}/functions/{name}", {
            "url": url,
            "serviceConfig": service,
        }
    if typ == TOPIC:
        return f"projects/{PROJECT}/topics/{inputs['name']}", {}
    if typ == SUBSCRIPTION:
        return f"projects/{PROJECT}/subscriptions/{inputs['name']}", {}
    if typ == SECRET:
        return f"projects/{PROJECT}/secrets/{inputs['secretId']}", {}
    if typ == SECRET_VERSION:
        return f"{inputs['secret']}/versions/1", {"version": "1"}
    if typ == DATASET:
        return f"projects/{PROJECT}/datasets/{inputs['datasetId']}", {}
    return None, {}


class CloudMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.declared: list[Declared] = []

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.declared.append(Declared(args.typ, args.name, inputs, bool(args.custom)))
        resource_id, computed = _computed(args.typ, inputs)
        return resource_id or f"{args.name}-id", {**inputs, **computed}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": PROJECT_NUMBER, "projectId": PROJECT, "name": PROJECT}, []
        return {}, []

    def of_type(self, typ: str) -> list[Declared]:
        return [d for d in self.declared if d.typ == typ]


def run(program: Callable[[], pulumi.Output[Any]]) -> None:
    """Run ``program`` under the mocks and return once every resource is registered and the
    returned output resolved (Pulumi's own test wrapper, called synchronously)."""
    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
