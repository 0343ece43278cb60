"""Secret Manager: the sources' write-key material (``CDP_SOURCES``), the key of every keyed
hash (``cdp-pii-hash-key``: ``CDP_PII_HASH_KEY``), the deletion APIs' own credentials
(``cdp-deletion-<field>``) and one secret per enabled destination's credential
(``cdp-<name>-<field>``: ``cdp-amplitude-api-key``, ``cdp-ga4-api-secret``).

Values come from Pulumi secret config, so they are encrypted in the stack's state and never in
code; which credentials an enabled destination cannot do without is checked while the config is
read (``infra/config.py``), before anything is declared. Access is granted per secret to the
function that reads it (see ``infra/access.py``), not project-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.access import SOURCES_SECRET
from infra.destinations import env_name, secret_key


def secret_id(key: str) -> str:
    """The Secret Manager id of the secret stored as ``key`` (``sources``, ``webhook-secret``)."""
    return f"cdp-{key}"


@dataclass(frozen=True)
class SecretsArgs:
    project: str
    sources_json: pulumi.Input[str]
    # Enabled destination → secret field → its value (from cdp:destinationKeys).
    destination_keys: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    # Any other secret: its key (``pii-hash-key``) → its value.
    stored: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


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
            SOURCES_SECRET: self._secret(SOURCES_SECRET, args.sources_json),
        }
        for key, value in sorted(args.stored.items()):
            self.secrets[key] = self._secret(key, value)
        # Destination → (env var, secret key) of each of its stored credentials.
        self.destination_keys: dict[str, tuple[tuple[str, str], ...]] = {}
        for destination, values in args.destination_keys.items():
            stored = []
            for field_name, value in sorted(values.items()):
                key = secret_key(destination, field_name)
                self.secrets[key] = self._secret(key, value)
                stored.append((env_name(destination, field_name), key))
            self.destination_keys[destination] = tuple(stored)
        self.register_outputs({"secret_ids": [s.secret.secret_id for s in self.secrets.values()]})

    def _secret(self, key: str, value: pulumi.Input[str]) -> StoredSecret:
        name = secret_id(key)
        secret = gcp.secretmanager.Secret(
            name,
            project=self._args.project,
            secret_id=name,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-value",
            secret=secret.id,
            secret_data=pulumi.Output.secret(value),
            opts=pulumi.ResourceOptions(parent=secret),
        )
        return StoredSecret(secret, version)
