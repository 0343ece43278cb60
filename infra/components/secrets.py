"""Secret Manager: the sources' write-key material (``CDP_SOURCES``) and one secret per enabled
destination's API key.

Values come from Pulumi secret config, so they are encrypted in the stack's state and never in
code; an enabled destination without a configured key fails the deployment rather than
deploying a destination that cannot authenticate. Access is granted per secret to the functions
that read it (see ``infra/access.py``), not project-wide.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.access import SOURCES_SECRET

SOURCES_SECRET_ID = "cdp-sources"


def destination_secret_id(destination: str) -> str:
    return f"cdp-destination-{destination}"


class MissingDestinationKey(Exception):
    """An enabled destination has no key in ``cdp:destinationKeys``."""


def _key_of(keys: Mapping[str, str] | None, destination: str) -> str:
    key = (keys or {}).get(destination)
    if not key:
        raise MissingDestinationKey(
            f"destination {destination!r} is enabled but cdp:destinationKeys has no key for it"
        )
    return key


@dataclass(frozen=True)
class SecretsArgs:
    project: str
    sources_json: pulumi.Input[str]
    destinations: Sequence[str] = ()
    destination_keys: pulumi.Input[Mapping[str, str]] | None = None


@dataclass(frozen=True)
class StoredSecret:
    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion  # functions reading it wait for its first value


class Secrets(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cdp:infra:Secrets", name, None, opts)
        self._args = args
        self.secrets: dict[str, StoredSecret] = {
            SOURCES_SECRET: self._secret(SOURCES_SECRET_ID, args.sources_json),
        }
        keys: pulumi.Output[Mapping[str, str]] = pulumi.Output.secret(args.destination_keys or {})
        for destination in args.destinations:
            value = keys.apply(functools.partial(_key_of, destination=destination))
            self.secrets[destination] = self._secret(destination_secret_id(destination), value)
        self.register_outputs({"secret_ids": [s.secret.secret_id for s in self.secrets.values()]})

    def _secret(self, secret_id: str, value: pulumi.Input[str]) -> StoredSecret:
        secret = gcp.secretmanager.Secret(
            secret_id,
            project=self._args.project,
            secret_id=secret_id,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        version = gcp.secretmanager.SecretVersion(
            f"{secret_id}-value",
            secret=secret.id,
            secret_data=pulumi.Output.secret(value),
            opts=pulumi.ResourceOptions(parent=secret),
        )
        return StoredSecret(secret, version)
