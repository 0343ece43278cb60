"""The infra program's one error: the stack configuration is invalid. Raised while the config is
read, before any resource is declared, so ``pulumi preview`` fails with the message and nothing
half-deployed is left behind."""

from __future__ import annotations


class ConfigError(Exception):
    """The stack configuration is invalid; raised before any resource is declared."""
